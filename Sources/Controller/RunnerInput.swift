import ControllerAPI
import NodeManager
import RingmasterModel

/// Everything the runner's loop reacts to, in arrival order.
enum RunnerInput: Sendable {
    case node(NodeEvent)
    case message(NodeMessage)
    /// A job was stored as `pending`: try to place it.
    case submitted(JobID)
    case cancel(JobID, CheckedContinuation<Result<JobView, APIErrorBody>, Never>)
    /// Four times a second: hang detection; every fourth: flush progress, steps/s.
    case tick
    /// A recovering job's backoff has passed: launch its next attempt.
    case relaunch(JobID)
    /// Try the pending jobs again (a recovery's shrink grace has passed).
    case reschedule
    /// `ringmaster nodes release NODE`.
    case release(NodeID, CheckedContinuation<Result<String, APIErrorBody>, Never>)
    /// `ringmaster chaos …`.
    case chaos(JobID, ChaosRequest, CheckedContinuation<Result<ChaosReport, APIErrorBody>, Never>)
    /// Stop every attempt (ranks told to stop), then end the loop.
    case shutdown
}
