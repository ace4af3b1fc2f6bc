/// What an event row records, as `subject.verb`. An open set: later services add their own kinds;
/// the store only checks the shape.
public struct EventKind: StringIdentifier {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let nodeRegistered = EventKind(rawValue: "node.registered")
    public static let nodeState = EventKind(rawValue: "node.state")
    public static let jobSubmitted = EventKind(rawValue: "job.submitted")
    public static let jobState = EventKind(rawValue: "job.state")
    /// A pending job's reason changed (why it cannot be placed yet).
    public static let jobWaiting = EventKind(rawValue: "job.waiting")
    public static let attemptStarted = EventKind(rawValue: "attempt.started")
    public static let attemptFinished = EventKind(rawValue: "attempt.finished")
    /// The fault manager: a failure seen, the decision, teardown done, the new attempt, the first step after it.
    public static let failureDetected = EventKind(rawValue: "failure.detected")
    public static let recoveryDecision = EventKind(rawValue: "recovery.decision")
    public static let recoveryTeardown = EventKind(rawValue: "recovery.teardown")
    public static let recoveryRelaunch = EventKind(rawValue: "recovery.relaunch")
    public static let recoveryComplete = EventKind(rawValue: "recovery.complete")
    /// An in-process rejoin: the survivors asked to abandon their step, then the step they resume from (or
    /// why the recovery falls back to a cold restart).
    public static let recoveryRejoin = EventKind(rawValue: "recovery.rejoin")
    /// Data parallelism reduced to fit the remaining nodes, and restored once they return.
    public static let recoveryShrink = EventKind(rawValue: "recovery.shrink")
    public static let recoveryGrow = EventKind(rawValue: "recovery.grow")
    /// A node excluded after repeated failures, or released by an operator.
    public static let nodeQuarantined = EventKind(rawValue: "node.quarantined")
    public static let nodeReleased = EventKind(rawValue: "node.released")
    /// A failure injected on purpose (`ringmaster chaos`).
    public static let chaosInjected = EventKind(rawValue: "chaos.injected")
    /// The attempt's first `step` report: its ranks joined the rendezvous, restored and trained.
    public static let attemptStepping = EventKind(rawValue: "attempt.stepping")
    public static let rankStarted = EventKind(rawValue: "rank.started")
    public static let rankExited = EventKind(rawValue: "rank.exited")
    public static let checkpointCommitted = EventKind(rawValue: "checkpoint.committed")
    public static let checkpointCorrupt = EventKind(rawValue: "checkpoint.corrupt")
    /// A step that will not be committed: a rank could not write its shard (a full disk), or its commit failed.
    public static let checkpointFailed = EventKind(rawValue: "checkpoint.failed")
    /// The state database could not be written for a while (full disk, a lock held by another process):
    /// recorded once it can be written again, with what was delayed or lost.
    public static let storeWriteFailed = EventKind(rawValue: "store.write-failed")

    /// `subject.verb` in lower-case letters, digits and '-'.
    public var isWellFormed: Bool {
        let parts = rawValue.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { part in
            !part.isEmpty && part.first!.isLetter
                && part.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
        }
    }
}
