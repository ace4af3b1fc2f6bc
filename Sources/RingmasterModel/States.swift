/// Lifecycle of a node as the controller sees it.
///
/// ```
/// connecting ─▶ ready ─▶ lost ─▶ connecting …
///     │           │
///     ▼           ▼
/// unreachable  quarantined ─(release)─▶ ready
///     │
///     └─(retry with backoff)─▶ connecting
/// ```
public enum NodeState: String, Hashable, Codable, Sendable, CaseIterable {
    /// SSH (or the local pipe) is being opened and the agent has not said `hello` yet.
    case connecting
    /// The agent said `hello` and heartbeats arrive; ranks may be placed here.
    case ready
    /// Connecting failed; retried with exponential backoff and jitter.
    case unreachable
    /// The channel dropped or heartbeats stopped after the node had been ready.
    case lost
    /// Excluded after repeated failures until an operator releases it.
    case quarantined
}

/// Lifecycle of a job.
///
/// ```
/// pending ─▶ running ─▶ succeeded
///    │  ▲       │  ▲
///    │  └───────┤  │ (new attempt)
///    │          ▼  │
///    │       recovering ─▶ failed
///    └──────────────────▶ cancelled (from any non-final state)
/// ```
public enum JobState: String, Hashable, Codable, Sendable, CaseIterable {
    /// Accepted, waiting for nodes (the reason is stored with the job).
    case pending
    /// An attempt is running.
    case running
    /// An attempt failed; the fault manager is deciding or launching the next one.
    case recovering
    case succeeded
    case failed
    case cancelled

    public var isFinal: Bool { self == .succeeded || self == .failed || self == .cancelled }

    /// Whether the state machine above allows `self → next`.
    public func canMove(to next: JobState) -> Bool {
        switch (self, next) {
        case (.pending, .running), (.pending, .failed): return true
        case (.running, .succeeded), (.running, .failed), (.running, .recovering), (.running, .pending): return true
        case (.recovering, .running), (.recovering, .failed), (.recovering, .pending): return true
        case (_, .cancelled): return !isFinal
        default: return false
        }
    }
}

/// Lifecycle of one attempt (one launch of all ranks of a job).
public enum AttemptState: String, Hashable, Codable, Sendable, CaseIterable {
    /// `launch` sent; ranks are starting and joining the rendezvous.
    case launching
    /// Every rank has started.
    case running
    /// Every rank exited 0.
    case succeeded
    /// A failure was detected; the attempt's ranks were stopped.
    case failed
    /// Stopped on purpose: job cancelled or controller shut down.
    case stopped

    public var isFinal: Bool { self == .succeeded || self == .failed || self == .stopped }
}

/// Lifecycle of one rank process within an attempt.
public enum RankState: String, Hashable, Codable, Sendable, CaseIterable {
    /// Placed, launch not yet acknowledged by the agent.
    case pending
    /// The agent spawned it (`started`), no progress yet.
    case starting
    /// It reported at least one `step`.
    case running
    /// The process is gone (status or signal recorded).
    case exited
}
