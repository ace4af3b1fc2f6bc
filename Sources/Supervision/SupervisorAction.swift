import FaultPolicy
import Foundation
import RingmasterModel

/// A launch the shell prepares before it is ordered: the resume candidates' markers read (and a
/// `resumeFrom` step imported), answered with `prepared`.
public struct LaunchPreparation: Hashable, Sendable {
    public var job: JobID
    public var attempt: Int
    /// Committed steps, newest first.
    public var candidates: [Int]
    public var importFrom: String?
}

/// An attempt to start: the shell records it, opens its rendezvous and sends `launch` to every rank,
/// then answers `launched` (or `launchFailed`).
public struct LaunchOrder: Hashable, Sendable {
    public var job: JobID
    public var attempt: Int
    public var placement: Placement
    public var resumeStep: Int?
    /// The step was imported from `resumeFrom` (recorded as this job's checkpoint when the attempt is).
    public var imported: String?
    public var token: AttemptToken
    /// The master port for ranks of SSH clusters (local clusters use a free loopback port).
    public var masterPort: Int
    /// Whether this attempt replaces a failed one.
    public var recovering: Bool
    /// Idle nodes that keep warm interpreters for the job (`warm.spares`; inventory spares first), to take a
    /// lost node's ranks without starting interpreters; empty without `warm:`.
    public var warmSpares: [NodeID] = []
    /// An in-process rejoin: these ranks of attempt `from` are live and join this attempt without being started
    /// (the shell sends them `rejoin`); the others start in their place. The resume step is the survivors'.
    public var rejoin: RejoinLaunch?
}

/// The survivors a new attempt adopts (an in-process rejoin).
public struct RejoinLaunch: Hashable, Sendable {
    public var from: Int
    public var survivors: [Int]

    public init(from: Int, survivors: [Int]) {
        self.from = from
        self.survivors = survivors
    }
}

/// `abandon` to each of the attempt's surviving ranks, through its node's agent: they leave their step and
/// answer `held` within `deadline`.
public struct AbandonOrder: Hashable, Sendable {
    public var job: JobID
    public var attempt: Int
    public var ranks: [RankAssignment]
    public var deadline: Duration
}

/// The warm pools of a running attempt: its nodes' and its warm spares' (`warm:`).
public struct WarmPoolOrder: Hashable, Sendable {
    public var job: JobID
    public var placement: Placement
    public var spares: [NodeID]

    public init(job: JobID, placement: Placement, spares: [NodeID]) {
        self.job = job
        self.placement = placement
        self.spares = spares
    }
}

/// Ranks to stop: a signal with the SIGTERM → SIGKILL grace.
public struct SignalOrder: Hashable, Sendable {
    public var job: JobID
    public var attempt: Int
    public var ranks: [RankAssignment]
    public var signal: Int32
    public var grace: Duration
}

/// `checkpoint-now STEP` to each rank, through its node's agent (a time limit is near).
public struct CheckpointOrder: Hashable, Sendable {
    public var job: JobID
    public var attempt: Int
    public var ranks: [RankAssignment]
    public var step: Int
}

/// What the supervisor tells the shell to do, in order.
public enum SupervisorAction: Sendable {
    /// An event row (and the line the controller prints for it).
    case record(SupervisorEvent)
    /// A plain line for the operator (no event row).
    case note(JobID?, String)
    case setJobState(JobID, JobState, reason: String?)
    /// The job reached a final state (the foreground `run` waits for this).
    case finished(JobID, JobState, reason: String?)
    /// A pending job cannot be placed on the free ready nodes (the foreground `run` fails on it).
    case waiting(JobID, reason: String)
    case setNodeState(NodeID, NodeState, reason: String)
    case prepareLaunch(LaunchPreparation)
    case launch(LaunchOrder)
    /// Size the job's warm pools again (its warm spares changed while the attempt runs).
    case sizeWarmPools(WarmPoolOrder)
    case signal(SignalOrder)
    case requestCheckpoint(CheckpointOrder)
    case abandon(AbandonOrder)
    /// Nodes whose time limit is near hold no attempt any more: their node source may move them.
    case vacated([NodeID])
    /// The attempt's final state; its resources (rendezvous, log files) can go.
    case finishAttempt(JobID, attempt: Int, AttemptState, reason: String)
    /// An attempt the previous controller left open, ended as failed at start-up.
    case closeStaleAttempt(JobID, attempt: Int, reason: String)
    /// Write the step's COMMITTED marker and store row, then answer `checkpointCommitted`.
    case commitCheckpoint(JobID, attempt: Int, step: Int, worldSize: Int)
    /// Delete committed steps beyond `keep` and this attempt's partial ones (off the loop).
    case pruneCheckpoints(JobID, committed: [Int], partial: [Int])
    case markCheckpointCorrupt(JobID, step: Int, reason: String)
    /// A lost node on a local cluster: kill its agent and the ranks it started.
    case cleanUpNode(NodeID, ranks: [RankRef])
    /// Read the kernel state of the attempt's live ranks, answered with `inspected` (local clusters).
    case inspectRanks(JobID, attempt: Int, ranks: [Int])
    case setTimer(TimerID, at: Instant)
    case cancelTimer(TimerID)
    /// Answer a `cancel`: the job's state now, or why it could not be cancelled.
    case answerCancel(request: Int, Result<JobID, SupervisorRefusal>)
    case answerRelease(request: Int, Result<String, SupervisorRefusal>)
    /// Nothing is left to stop: the shell can end its loop.
    case stopped
}

/// A request the supervisor turned down, with a hint.
public struct SupervisorRefusal: Error, Hashable, Sendable {
    public var error: String
    public var hint: String?
    public init(_ error: String, hint: String? = nil) {
        self.error = error
        self.hint = hint
    }
}
