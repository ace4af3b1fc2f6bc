import ControllerAPI
import NodeManager
import RingmasterModel
import StateStore

/// Everything the runner's loop reacts to from outside, in arrival order (timers are the loop's own).
enum RunnerInput: Sendable {
    case node(NodeEvent)
    case message(NodeMessage)
    /// A job was stored as `pending`: the supervisor places it as soon as it can.
    case submitted(JobRecord)
    case cancel(JobID, CheckedContinuation<Result<JobView, APIErrorBody>, Never>)
    /// `ringmaster nodes release NODE`.
    case release(NodeID, CheckedContinuation<Result<String, APIErrorBody>, Never>)
    /// `ringmaster chaos …`.
    case chaos(JobID, ChaosRequest, CheckedContinuation<Result<ChaosReport, APIErrorBody>, Never>)
    /// Pruning finished on the disk queue (a line for the operator).
    case pruned(JobID, [Int])
    /// The node source's time limit is near on these nodes (a Slurm holder job's warning).
    case timeLimit([NodeID], cause: String)
    /// Stop every attempt (ranks told to stop), then end the loop.
    case shutdown
}
