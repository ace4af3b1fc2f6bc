import AgentProtocol
import RingmasterModel

/// What the shell is to do, in order.
public enum AgentAction: Hashable, Sendable {
    /// Queue this message for the controller.
    case send(AgentMessage)
    /// Sample host load and the listed ranks' memory, then send the heartbeat the plan describes.
    case sendHeartbeat(HeartbeatPlan)
    /// Start this rank; answer with `AgentInput.spawned` or `.spawnFailed` before any other input.
    case spawn(RankSpawn)
    /// Start one interpreter of this kind (`python OPTIONS -c BOOTSTRAP PRELOAD…`, its own process group, stdin a
    /// pipe for its launch); answer with `AgentInput.warmStarted` or `.warmStartFailed`.
    case startWarm(WarmSpec)
    /// `kill(-pid, signal)`: the signal goes to the rank's whole process group.
    case signalGroup(pid: Int32, signal: Int32)
    /// One request (`checkpoint-now STEP`, `abandon …`, `rejoin …`) to the rank, sent from its report socket to the address the
    /// rank's reports come from.
    case relay(RankRef, line: String)
    /// The rank is filed under a new reference (an in-process rejoin): its descriptors follow it.
    case rekey(RankRef, to: RankRef)
    /// The rank is gone: close its pipes, its log files and its report socket (and remove the socket file).
    case closeRank(RankRef)
    /// One diagnostic line on the agent's stderr (the protocol owns stdout).
    case log(String)
    /// Wait for these pids (already sent SIGKILL), write out what is queued for the controller, and exit 0.
    case exit(awaiting: [Int32])
}

/// A launch the core accepted: the request with the rank's complete environment, and the report socket to bind.
public struct RankSpawn: Hashable, Sendable {
    /// `env` already holds `PATH` (the agent's when the request had none), `RINGMASTER_CONTROL` and, when the
    /// C ABI library sits beside the agent, `RINGMASTER_LIBRARY`.
    public var request: LaunchRequest
    /// Path of the rank's Unix datagram report socket (`RINGMASTER_CONTROL`).
    public var controlPath: String
    /// The waiting interpreter (`startWarm`) the rank runs in: the shell writes it the `WarmLaunch` instead of
    /// starting a process — and starts `argv` when that interpreter is already gone.
    public var warmPID: Int32?

    public init(request: LaunchRequest, controlPath: String, warmPID: Int32? = nil) {
        self.request = request
        self.controlPath = controlPath
        self.warmPID = warmPID
    }
}

/// The parts of a heartbeat the core decides; the shell adds what it measures (load, resident memory).
public struct HeartbeatPlan: Hashable, Sendable {
    public struct Rank: Hashable, Sendable {
        public var rank: RankRef
        public var pid: Int32
        public init(rank: RankRef, pid: Int32) {
            self.rank = rank
            self.pid = pid
        }
    }

    public var sequence: UInt64
    /// The live ranks, in rank order.
    public var ranks: [Rank]
    public var malformedReports: UInt64
    /// Set when the heartbeat answers a `ping`.
    public var ping: UInt64?
    /// Interpreters waiting for a launch; nil when the agent keeps no warm pool.
    public var warmInterpreters: Int?

    public init(sequence: UInt64, ranks: [Rank], malformedReports: UInt64, ping: UInt64?, warmInterpreters: Int? = nil) {
        self.warmInterpreters = warmInterpreters
        self.sequence = sequence
        self.ranks = ranks
        self.malformedReports = malformedReports
        self.ping = ping
    }

    /// The heartbeat with the shell's measurements.
    public func heartbeat(load: HostLoad, rssBytes: [Int32: UInt64], agentRSSBytes: UInt64) -> Heartbeat {
        Heartbeat(
            sequence: sequence, load: load,
            ranks: ranks.map { RankUsage(rank: $0.rank, pid: $0.pid, rssBytes: rssBytes[$0.pid] ?? 0) },
            agentRSSBytes: agentRSSBytes, malformedReports: malformedReports, ping: ping, warmInterpreters: warmInterpreters)
    }
}
