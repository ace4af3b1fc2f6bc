/// The agent's settings and limits. Times are durations on the monotonic clock the shell passes in.
public struct AgentConfiguration: Hashable, Sendable {
    /// Between two unsolicited heartbeats.
    public var heartbeatInterval: Duration
    /// When the controller goes away: SIGTERM to every rank, SIGKILL this much later.
    public var shutdownGrace: Duration
    /// After that SIGKILL the agent waits at most this long for the ranks to be reaped, then exits anyway.
    public var exitBound: Duration
    /// With a controller that pings every heartbeat interval: this long without a byte from it and the agent shuts
    /// down as if the channel had closed (a partitioned host stops its ranks by itself). nil: silence is waited out.
    public var controllerSilenceLimit: Duration?
    /// With a window set, `step N` reports are held this long and leave together, one `steps` message per
    /// attempt (a rank's newest step only): a large cluster's controller reads a message per node and window
    /// rather than per rank and step. nil: each step report leaves at once as a `progress`.
    public var reportBatchInterval: Duration?
    /// Log batches leave on this timer only (so a flooding rank costs the agent a disk write and a count).
    public var logFlushInterval: Duration
    /// Log batches wait while this much output is queued for the controller (their batchers then drop).
    public var logBackpressureBytes: Int
    /// Droppable messages (logs, progress, heartbeats) are dropped past this much queued output.
    public var hardBacklogBytes: Int
    /// Per stream and rank: bytes held for the next batch; beyond it output is dropped and counted.
    public var maxPendingLogBytes: Int
    /// Longer output lines are cut into pieces of this size.
    public var maxLogLineBytes: Int
    /// `PATH` for ranks whose environment has none (the agent's own).
    public var defaultPath: String
    /// `RINGMASTER_LIBRARY` for ranks whose environment has none: the C ABI library beside the agent, if any.
    public var collectivesLibrary: String?
    /// Directory of the ranks' report sockets, and the agent's pid that names them.
    public var stateDirectory: String
    public var agentPID: Int32
    /// A warm pool whose request names no delay fills this long after it was asked for or last used (`WarmPools`).
    public var warmRefillDelay: Duration
    /// Interpreters in a row that exit before any launch disable their kind.
    public var warmFailureLimit: Int

    public init(
        heartbeatInterval: Duration = .seconds(1), shutdownGrace: Duration = .seconds(2), exitBound: Duration = .seconds(2),
        logFlushInterval: Duration = .milliseconds(100), logBackpressureBytes: Int = 1 << 20,
        hardBacklogBytes: Int = 8 << 20, maxPendingLogBytes: Int = 128 * 1024, maxLogLineBytes: Int = 16 * 1024,
        defaultPath: String = "/usr/local/bin:/usr/bin:/bin", collectivesLibrary: String? = nil,
        stateDirectory: String = "/tmp", agentPID: Int32 = 0, controllerSilenceLimit: Duration? = nil,
        reportBatchInterval: Duration? = nil, warmRefillDelay: Duration = .seconds(5), warmFailureLimit: Int = 3
    ) {
        self.warmRefillDelay = warmRefillDelay
        self.warmFailureLimit = warmFailureLimit
        self.reportBatchInterval = reportBatchInterval
        self.controllerSilenceLimit = controllerSilenceLimit
        self.heartbeatInterval = heartbeatInterval
        self.shutdownGrace = shutdownGrace
        self.exitBound = exitBound
        self.logFlushInterval = logFlushInterval
        self.logBackpressureBytes = logBackpressureBytes
        self.hardBacklogBytes = hardBacklogBytes
        self.maxPendingLogBytes = maxPendingLogBytes
        self.maxLogLineBytes = maxLogLineBytes
        self.defaultPath = defaultPath
        self.collectivesLibrary = collectivesLibrary
        self.stateDirectory = stateDirectory
        self.agentPID = agentPID
    }
}
