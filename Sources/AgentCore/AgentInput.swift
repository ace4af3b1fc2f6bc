import SystemUtilities
import AgentProtocol
import RingmasterModel

/// What happened, as the agent's shell saw it. Each input is handed to `AgentCore.handle(_:now:)` with the
/// monotonic time at which the shell observed it.
public enum AgentInput: Hashable, Sendable {
    /// The agent is up: `hello` (host facts, gathered by the shell) goes out first; heartbeats start.
    case begin(Hello)
    /// Bytes read from the controller's channel (stdin), in any split.
    case controllerBytes([UInt8])
    /// The controller's channel can no longer be read: end of file or a read error.
    case controllerClosed(reason: String)
    /// Writing to the controller failed: nothing more can reach it.
    case controllerUnwritable
    /// Bytes queued for the controller that the shell has not written yet.
    case outputBacklog(bytes: Int)
    /// The rank asked for by `AgentAction.spawn` runs as `pid` (its own process group).
    case spawned(RankRef, pid: Int32)
    /// The rank asked for by `AgentAction.spawn` could not be started; `reason` goes to the controller.
    case spawnFailed(RankRef, reason: String)
    /// Bytes read from one of a rank's output pipes (the shell already appended them to the node's log file).
    case rankOutput(RankRef, LogStream, [UInt8])
    /// One datagram from a rank's report socket.
    case rankReport(RankRef, datagram: [UInt8])
    /// A rank process was reaped. Its pipes were drained into `rankOutput` inputs first; `finalReports` are the
    /// datagrams still waiting on its report socket.
    case rankExited(RankRef, POSIX.Termination, finalReports: [[UInt8]])
    /// The interpreter asked for by `AgentAction.startWarm` runs as `pid`, waiting for a launch.
    case warmStarted(WarmSpec, pid: Int32)
    /// It could not be started.
    case warmStartFailed(WarmSpec, reason: String)
    /// A waiting interpreter has imported its preload (it said so on its launch socket).
    case warmReady(pid: Int32)
    /// An interpreter no launch went into was reaped; `output` is the end of what it wrote.
    case warmExited(pid: Int32, POSIX.Termination, output: String)
    /// Time passed: whatever is due at `now` (log flush, kill deadlines, shutdown, heartbeat) happens.
    case tick
    /// The shell cannot go on (its poll failed): stop every rank and exit.
    case stop(reason: String)
}
