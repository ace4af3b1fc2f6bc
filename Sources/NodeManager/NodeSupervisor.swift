import AgentProtocol
import RingmasterModel

/// Exponential backoff with jitter for reconnecting to a node.
public struct BackoffPolicy: Hashable, Sendable {
    public var initial: Duration
    public var maximum: Duration
    /// Each delay is multiplied by a factor drawn from `1 - jitter … 1 + jitter`.
    public var jitter: Double

    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(30), jitter: Double = 0.2) {
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
    }

    /// Delay before retry number `failures` (1-based), with `random` in 0..<1.
    public func delay(failures: Int, random: Double) -> Duration {
        let exponent = min(max(failures - 1, 0), 30)
        let base = min(initial.seconds * Double(1 << exponent), maximum.seconds)
        let factor = 1 + jitter * (2 * min(max(random, 0), 1) - 1)
        return .nanoseconds(Int64(base * factor * 1e9))
    }
}

/// Node lifecycle and heartbeat supervision as a pure state machine: inputs carry `now` (and the random
/// draw for jitter), outputs are state transitions and actions for the shell to perform. No IO, no clock.
/// With `pingInterval` set, every ready node is pinged that often: its agent, started with the matching
/// silence limit (`HeartbeatSettings.agentSilenceLimit`), stops its ranks when the pings stop reaching it.
///
/// ```
/// start ─▶ connecting ─(hello)─▶ ready ─(channel closed | missed × interval silent)─▶ lost
///              │                                                                      │
///   (connect failed | hello timeout)                                            (backoff)
///              ▼                                                                      │
///         unreachable ─(backoff)─▶ connecting ◀─────────────────────────────────────────┘
/// ```
public struct NodeSupervisor: Sendable {
    public struct Configuration: Hashable, Sendable {
        public var heartbeat: HeartbeatSettings
        public var backoff: BackoffPolicy
        /// Channel open but no `hello` yet for this long: unreachable.
        public var helloTimeout: Duration
        /// A ready node is pinged this long after it said hello and after each ping; nil: never.
        public var pingInterval: Duration?

        public init(
            heartbeat: HeartbeatSettings = .init(), backoff: BackoffPolicy = .init(), helloTimeout: Duration = .seconds(30),
            pingInterval: Duration? = nil
        ) {
            self.heartbeat = heartbeat
            self.backoff = backoff
            self.helloTimeout = helloTimeout
            self.pingInterval = pingInterval
        }
    }

    public struct Transition: Hashable, Sendable {
        public var node: NodeID
        public var from: NodeState?
        public var to: NodeState
        public var cause: String
    }

    public enum Action: Hashable, Sendable {
        /// Open a channel to the node; its events must carry `attempt`.
        case connect(NodeID, attempt: Int)
        /// Close the node's current channel.
        case disconnect(NodeID, reason: String)
        /// Send a `ping` on the node's current channel (its agent's proof that the controller is there).
        case ping(NodeID)
    }

    public struct Output: Hashable, Sendable {
        public var transitions: [Transition] = []
        public var actions: [Action] = []
        public init() {}
    }

    struct Entry: Hashable, Sendable {
        var state: NodeState?
        /// Increases with each connect; events of older attempts are ignored.
        var attempt = 0
        var failures = 0
        var lastHeard: Duration?
        var helloDeadline: Duration?
        var retryAt: Duration?
        var pingAt: Duration?
        var channelOpen = false
    }

    public let configuration: Configuration
    private(set) var entries: [NodeID: Entry]
    private let order: [NodeID]

    public init(nodes: [NodeID], configuration: Configuration) {
        self.configuration = configuration
        order = nodes
        entries = Dictionary(uniqueKeysWithValues: nodes.map { ($0, Entry()) })
    }

    public func state(of node: NodeID) -> NodeState? { entries[node]?.state }
    public var states: [NodeID: NodeState] { entries.compactMapValues(\.state) }
    public func currentAttempt(of node: NodeID) -> Int? { entries[node]?.attempt }

    private mutating func move(_ node: NodeID, to state: NodeState, cause: String, into out: inout Output) {
        let from = entries[node]!.state
        guard from != state else { return }
        entries[node]!.state = state
        out.transitions.append(Transition(node: node, from: from, to: state, cause: cause))
    }

    private mutating func connect(_ node: NodeID, cause: String, now: Duration, into out: inout Output) {
        entries[node]!.attempt += 1
        entries[node]!.retryAt = nil
        entries[node]!.lastHeard = nil
        entries[node]!.channelOpen = false
        entries[node]!.helloDeadline = now + configuration.helloTimeout
        move(node, to: .connecting, cause: cause, into: &out)
        out.actions.append(.connect(node, attempt: entries[node]!.attempt))
    }

    /// Every node starts connecting at once.
    public mutating func start(now: Duration) -> Output {
        var out = Output()
        for node in order where entries[node]!.state == nil { connect(node, cause: "discovery", now: now, into: &out) }
        return out
    }

    /// The transport opened a channel for `attempt` (the agent has not said hello yet).
    public mutating func channelOpened(_ node: NodeID, attempt: Int, now: Duration) -> Output {
        var out = Output()
        guard let e = entries[node], e.attempt == attempt else {
            return out
        }
        guard e.state == .connecting || e.state == .ready else {
            // Opened after we gave up on this attempt: close it again.
            out.actions.append(.disconnect(node, reason: "stale connection"))
            return out
        }
        entries[node]!.channelOpen = true
        return out
    }

    /// Opening the channel failed: unreachable, retried after backoff.
    public mutating func connectFailed(_ node: NodeID, attempt: Int, error: String, now: Duration, random: Double) -> Output {
        var out = Output()
        guard let e = entries[node], e.attempt == attempt, e.state == .connecting else { return out }
        fail(node, to: .unreachable, cause: error, now: now, random: random, into: &out)
        return out
    }

    private mutating func fail(_ node: NodeID, to state: NodeState, cause: String, now: Duration, random: Double, into out: inout Output) {
        entries[node]!.failures += 1
        entries[node]!.helloDeadline = nil
        entries[node]!.lastHeard = nil
        entries[node]!.pingAt = nil
        let delay = configuration.backoff.delay(failures: entries[node]!.failures, random: random)
        entries[node]!.retryAt = now + delay
        let retry = "\(cause); retry in \(delay.manifestText)"
        move(node, to: state, cause: retry, into: &out)
    }

    /// A `hello` arrived on `attempt`'s channel. A wrong protocol version is refused.
    public mutating func helloReceived(_ node: NodeID, attempt: Int, protocolVersion: Int, now: Duration, random: Double) -> Output {
        var out = Output()
        guard let e = entries[node], e.attempt == attempt, e.state == .connecting else { return out }
        guard protocolVersion == AgentProtocolVersion.current else {
            out.actions.append(.disconnect(node, reason: "protocol version \(protocolVersion)"))
            fail(node, to: .unreachable, cause: "agent speaks protocol \(protocolVersion), controller \(AgentProtocolVersion.current)",
                 now: now, random: random, into: &out)
            return out
        }
        entries[node]!.failures = 0
        entries[node]!.helloDeadline = nil
        entries[node]!.lastHeard = now
        entries[node]!.pingAt = configuration.pingInterval.map { now + $0 }
        entries[node]!.channelOpen = true
        move(node, to: .ready, cause: "agent said hello", into: &out)
        return out
    }

    /// Any other message from the agent: proof of life.
    public mutating func heard(_ node: NodeID, attempt: Int, now: Duration) {
        guard let e = entries[node], e.attempt == attempt, e.state == .ready else { return }
        entries[node]!.lastHeard = now
    }

    /// The channel of `attempt` ended: a ready node is lost, a connecting one unreachable; both retried.
    public mutating func channelClosed(_ node: NodeID, attempt: Int, reason: String, now: Duration, random: Double) -> Output {
        var out = Output()
        guard let e = entries[node], e.attempt == attempt else { return out }
        entries[node]!.channelOpen = false
        switch e.state {
        case .ready: fail(node, to: .lost, cause: reason, now: now, random: random, into: &out)
        case .connecting: fail(node, to: .unreachable, cause: reason, now: now, random: random, into: &out)
        default: break
        }
        return out
    }

    /// Deadlines: heartbeats missed, hello timeouts, retries due.
    public mutating func tick(now: Duration, random: Double) -> Output {
        var out = Output()
        for node in order {
            let e = entries[node]!
            switch e.state {
            case .ready:
                if let heard = e.lastHeard, now - heard >= configuration.heartbeat.lostAfter {
                    out.actions.append(.disconnect(node, reason: "heartbeats stopped"))
                    fail(
                        node, to: .lost,
                        cause: "no heartbeat for \((now - heard).manifestText) (limit \(configuration.heartbeat.lostAfter.manifestText))",
                        now: now, random: random, into: &out)
                } else if let due = e.pingAt, now >= due, let interval = configuration.pingInterval {
                    // One ping however late the tick: the next is due one interval after this one.
                    out.actions.append(.ping(node))
                    entries[node]!.pingAt = now + interval
                }
            case .connecting:
                if let d = e.helloDeadline, now >= d {
                    out.actions.append(.disconnect(node, reason: "no hello"))
                    fail(node, to: .unreachable, cause: "no hello within \(configuration.helloTimeout.manifestText)", now: now, random: random, into: &out)
                }
            case .unreachable, .lost:
                if let r = e.retryAt, now >= r { connect(node, cause: "retry", now: now, into: &out) }
            case .quarantined, nil:
                break
            }
        }
        return out
    }

    /// When `tick` next has something to do.
    public var nextDeadline: Duration? {
        var next: Duration?
        func consider(_ d: Duration?) {
            if let d, next.map({ d < $0 }) ?? true { next = d }
        }
        for e in entries.values {
            switch e.state {
            case .ready:
                consider(e.lastHeard.map { $0 + configuration.heartbeat.lostAfter })
                consider(e.pingAt)
            case .connecting: consider(e.helloDeadline)
            case .unreachable, .lost: consider(e.retryAt)
            default: break
            }
        }
        return next
    }
}

