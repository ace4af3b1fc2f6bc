import FaultPolicy
import Foundation
import RingmasterModel

/// Why an attempt is being stopped on purpose.
public enum StopReason: Hashable, Sendable {
    /// `ringmaster cancel`: the job ends `cancelled`.
    case cancelled
    /// The controller is shutting down: the job goes back to `pending` and resumes at the next start.
    case controllerShutdown
    /// A shrunken attempt stops at a committed checkpoint so the job can grow back to its full layout.
    case grow(step: Int)
    /// Its nodes' time limit is near: it stopped at the committed checkpoint `step` and resumes elsewhere.
    case move(step: Int)
}

/// A failure being recovered from, carried from detection to the new attempt's first step.
public struct RecoveryContext: Hashable, Sendable {
    public var failure: Failure
    /// Newest step the failed attempt reached.
    public var lastStep: Int?
    public var teardownDoneAt: Instant
    public var relaunchedAt: Instant?
    public var resumeStep: Int?
    public var summary: String
    /// The survivors that rejoin the next attempt in process, and the step they resume from.
    public var rejoin: RejoinHandOff?
}

/// Survivors of a failed attempt waiting in process for the next one.
public struct RejoinHandOff: Hashable, Sendable {
    public var from: Int
    public var survivors: [RankAssignment]
    public var step: Int
}

/// The survivors of a failed attempt asked to abandon their step, and what they answered.
public struct RejoinGather: Hashable, Sendable {
    public var survivors: [RankAssignment]
    public var deadline: Instant
    public var held: [Int: HeldState] = [:]
    public var answered: Bool { held.count >= survivors.count }
}

/// The supervisor's view of one live attempt: which ranks started and are gone, its first failure,
/// why it is stopped, its checkpoint reports, hang detector and progress.
public struct AttemptRun: Sendable {
    public let number: Int
    public let placement: Placement
    public let launchedAt: Instant
    /// The first rank of the last pipeline stage computes the loss: its steps are the job's progress.
    public let progressRank: Int
    public let resumeStep: Int?
    /// `launched` arrived: the attempt exists in the store and its launches were sent.
    public var delivered = false
    public var started = Set<Int>()
    public var gone = Set<Int>()
    public var rankStartedAt: [Int: Instant] = [:]
    /// The attempt's first failure (later ones are consequences, or refine it).
    public var failure: Failure?
    public var stop: StopReason?
    /// Nodes lost while this attempt ran or was torn down: the next attempt does not use them.
    public var lostNodes = Set<NodeID>()
    public var commits: CommitTracker
    public var step: Int?
    public var stepping = false
    public var recovery: RecoveryContext?
    /// Cancel requests answered once the ranks are gone.
    public var cancelRequests: [Int] = []
    /// The hang timer's deadline, when armed.
    public var hangDeadline: Instant?
    public var inspecting = false
    /// The `checkpoint-now` asked before its nodes' time limit.
    public var timeLimit: TimeLimitRequest?
    /// The idle nodes keeping the job's warm interpreters (`warm.spares`).
    public var warmSpares: [NodeID] = []
    /// An in-process rejoin being gathered after the attempt's failure.
    public var rejoin: RejoinGather?
    /// The survivors handed on to the next attempt (gone from this one without exiting).
    public var adopted: RejoinHandOff?

    public var hang: HangDetector

    init(number: Int, placement: Placement, launchedAt: Instant, resumeStep: Int?, hang: HangDetector,
         recovery: RecoveryContext?) {
        self.number = number
        self.placement = placement
        self.launchedAt = launchedAt
        self.resumeStep = resumeStep
        progressRank = placement.ranks.last { $0.tp == 0 && $0.dp == 0 }?.rank ?? 0
        commits = CommitTracker(worldSize: placement.worldSize)
        self.hang = hang
        self.recovery = recovery
    }

    public var finished: Bool { gone.count >= placement.worldSize }
    public var stopping: Bool { failure != nil || stop != nil }
    public var live: [RankAssignment] { placement.ranks.filter { !gone.contains($0.rank) } }
    public func owns(_ rank: RankRef, job: JobID) -> Bool { rank.job == job && rank.attempt == number }
}

