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
    /// Once a second: flush progress, steps/s.
    case tick
    /// Stop every attempt (ranks told to stop), then end the loop.
    case shutdown
}
