import AgentProtocol
import RingmasterModel

/// The node agent's decisions, apart from its IO: which ranks run, when a graceful signal becomes SIGKILL,
/// what output reaches the controller and what is dropped and counted, when heartbeats go, and how the agent
/// shuts down when its controller is gone. The shell (`ringmaster-agent`) reads descriptors, hands what it read
/// to `handle(_:now:)` with the monotonic time, performs the returned actions in order, and polls until
/// `nextWake`. The core reads no clock and does no IO.
///
/// Guarantees, all visible on the wire:
/// - `hello` first; unsolicited heartbeats every interval until shutdown begins; a `ping` is always answered.
/// - Controller messages are acted on in order: a launch's `started` (or its `exited` error) comes before the
///   next message is read, so a `signal` right after a `launch` reaches the new rank.
/// - Everything a rank wrote and reported before exiting is sent before its `exited`.
/// - When the controller's channel closes, fails, or breaks the protocol: SIGTERM to every rank, SIGKILL after
///   the shutdown grace, exit once every rank is reaped or `exitBound` after the SIGKILL. No orphans.
/// - The same when nothing has come from the controller for `controllerSilenceLimit` (when set): a host cut off
///   from its controller by the network stops its ranks by itself, so none of them outlives the partition.
public struct AgentCore: Sendable {
    public let configuration: AgentConfiguration
    /// The live ranks: started and not yet reaped.
    public internal(set) var ranks: [RankRef: LiveRank] = [:]
    public internal(set) var kills = KillSchedule()
    public internal(set) var heartbeats: HeartbeatSchedule
    public internal(set) var budget: OutputBudget
    public internal(set) var shutdown: Shutdown?
    /// Rank report lines dropped as malformed since the agent started.
    public internal(set) var malformedReports: UInt64 = 0
    /// When queued log output is next flushed, if any is queued.
    public internal(set) var logFlushAt: Duration?

    /// Step reports held for the next `steps` message (`reportBatchInterval`), and when it leaves.
    var heldSteps = HeldSteps()
    public internal(set) var stepFlushAt: Duration?

    /// Pre-started interpreters, by kind.
    public internal(set) var warm: WarmPools
    /// Interpreters stopped at shutdown: the exit waits for them too.
    var stoppedWarm: [Int32] = []
    var reader = ControllerReader()
    /// A launch handed to the shell whose outcome has not come back yet; controller lines wait meanwhile.
    var awaitingSpawn: RankRef?
    var controllerUnwritable = false
    /// When anything last came from the controller (from `begin` on): the silence limit counts from here.
    public internal(set) var controllerHeardAt: Duration?
    var spawnCount = 0
    var exited = false
    /// The actions of the input being handled.
    var actions: [AgentAction] = []

    public init(configuration: AgentConfiguration) {
        self.configuration = configuration
        heartbeats = HeartbeatSchedule(interval: configuration.heartbeatInterval)
        budget = OutputBudget(softLimit: configuration.logBackpressureBytes, hardLimit: configuration.hardBacklogBytes)
        warm = WarmPools(defaultRefillDelay: configuration.warmRefillDelay, failureLimit: configuration.warmFailureLimit)
    }

    /// Whether the shell should read the controller's channel.
    public var readsController: Bool { reader.isOpen && !exited }

    /// The earliest time at which the core has something to do; the shell hands it `.tick` then (or earlier).
    public var nextWake: Duration? {
        guard !exited else { return nil }
        return [heartbeats.next, logFlushAt, stepFlushAt, kills.next, shutdown?.nextWake, controllerSilenceDeadline,
                shutdown == nil ? warm.nextRefill : nil]
            .compactMap { $0 }.min()
    }

    public mutating func handle(_ input: AgentInput, now: Duration) -> [AgentAction] {
        guard !exited else { return [] }
        actions = []
        switch input {
        case .begin(let hello):
            send(.hello(hello))
            heartbeats.start(at: now)
            controllerHeardAt = now
        case .controllerBytes(let bytes):
            controllerHeardAt = now
            reader.append(bytes)
            readControllerMessages(now: now)
        case .controllerClosed(let reason):
            reader.close()
            beginShutdown(reason: reason, now: now)
        case .controllerUnwritable:
            controllerUnwritable = true
            beginShutdown(reason: "stdout closed", now: now)
        case .outputBacklog(let bytes):
            budget.report(backlog: bytes)
        case .spawned(let rank, let pid):
            spawned(rank, pid: pid, now: now)
        case .spawnFailed(let rank, let reason):
            spawnFailed(rank, reason: reason, now: now)
        case .rankOutput(let rank, let stream, let bytes):
            output(bytes, from: rank, stream, now: now)
        case .rankReport(let rank, let datagram):
            report(datagram, from: rank, now: now)
        case .rankExited(let rank, let termination, let finalReports):
            rankExited(rank, termination, finalReports: finalReports, now: now)
        case .warmStarted(let spec, let pid):
            warmStarted(spec, pid: pid)
        case .warmStartFailed(let spec, let reason):
            warmStartFailed(spec, reason: "cannot start \(spec.python): \(reason)", now: now)
        case .warmReady(let pid):
            warm.ready(pid)
        case .warmExited(let pid, let termination, let output):
            warmExited(pid, termination, output: output, now: now)
        case .tick:
            runTimers(now: now)
        case .stop(let reason):
            beginShutdown(reason: reason, now: now)
        }
        exitIfDone(now: now)
        let result = actions
        actions = []
        return result
    }

    // MARK: Output

    /// Queues `message` for the controller unless it cannot be written or the budget drops it.
    /// Held step reports leave first: what the controller reads keeps the order the agent learned it in.
    mutating func send(_ message: AgentMessage, droppable: Bool = false) {
        flushHeldSteps()
        guard mayQueue(droppable: droppable, bytes: WireEstimate.bytes(of: message)) else { return }
        actions.append(.send(message))
    }

    /// A heartbeat takes a sequence number even when it is dropped; only a ping is answered during shutdown.
    mutating func sendHeartbeat(ping: UInt64?) {
        guard shutdown == nil || ping != nil else { return }
        flushHeldSteps()
        let plan = HeartbeatPlan(
            sequence: heartbeats.nextSequence(),
            ranks: liveRanksInOrder.map { HeartbeatPlan.Rank(rank: $0.ref, pid: $0.pid) },
            malformedReports: malformedReports, ping: ping, warmInterpreters: warm.pools.isEmpty ? nil : warm.readyCount)
        guard mayQueue(droppable: ping == nil, bytes: WireEstimate.bytes(of: plan)) else { return }
        actions.append(.sendHeartbeat(plan))
    }

    /// Whether a message of about `bytes` can reach the controller and fits the budget (then it is counted).
    mutating func mayQueue(droppable: Bool, bytes: Int) -> Bool {
        !controllerUnwritable && budget.admit(droppable: droppable, bytes: bytes)
    }

    var liveRanksInOrder: [LiveRank] {
        ranks.values.sorted { RankRef.inRankOrder($0.ref, $1.ref) }
    }
}
