import AgentProtocol
import Checkpointing
import Collectives
import ControllerAPI
import FaultPolicy
import Foundation
import RingmasterModel
import StateStore

/// Why an attempt is being stopped on purpose.
enum StopReason: Sendable {
    /// `ringmaster cancel`: the job ends `cancelled`.
    case cancelled
    /// The controller is shutting down: the job goes back to `pending` and resumes at the next start.
    case controllerShutdown
    /// A shrunken attempt stops at a committed checkpoint so the job can grow back to its full layout.
    case grow(step: Int)
}

/// A failure being recovered from, carried from detection to the new attempt's first step.
struct RecoveryContext: Sendable {
    var failure: Failure
    /// Newest step the failed attempt reached.
    var lastStep: Int?
    var teardownDoneAt: Date?
    var relaunchedAt: Date?
    var resumeStep: Int?
    var summary: String
}

/// The runner's live view of one attempt: which ranks have started and exited, the first failure,
/// checkpoint reports, progress. Owned by the runner's loop; never shared.
final class ActiveAttempt {
    let job: JobRecord
    let attemptID: Int64
    let number: Int
    let placement: Placement
    let rendezvous: RendezvousServer
    let layout: CheckpointLayout?
    /// The first rank of the last pipeline stage computes the loss: its reports are the job's progress.
    let progressRank: Int
    let startedAt: Date

    var commits: CommitTracker
    var started = Set<Int>()
    var gone = Set<Int>()
    /// The attempt's first failure (later ones are consequences, or noted as overlapping).
    var failure: Failure?
    /// Nodes lost while this attempt ran or was torn down: the next attempt must not use them.
    var lostNodes = Set<NodeID>()
    var hang: HangDetector
    var rankStartedAt: [Int: Date] = [:]
    var rankPIDs: [Int: Int32] = [:]
    /// Set when this attempt replaces a failed one: what it recovers from, for the `recovery.complete` event.
    var recovery: RecoveryContext?
    var stop: StopReason?
    /// Replies owed to `cancel` requests, sent once the ranks are gone.
    var cancelReplies: [CheckedContinuation<Result<JobView, APIErrorBody>, Never>] = []
    /// Newest step per rank not yet written to the store.
    var unsavedSteps: [Int: Int] = [:]
    var step: Int?
    var firstStepRecorded = false
    /// (time, step) of the progress rank a few seconds back, for steps/s.
    var rateSample: (Date, Int)?
    var stepsPerSecond: Double = 0

    init(job: JobRecord, attempt: AttemptRecord, rendezvous: RendezvousServer, startedAt: Date) {
        self.job = job
        attemptID = attempt.id!
        number = attempt.number
        placement = attempt.placement
        self.rendezvous = rendezvous
        layout = CheckpointFolder.layout(of: job)
        progressRank = attempt.placement.ranks.last { $0.tp == 0 && $0.dp == 0 }?.rank ?? 0
        commits = CommitTracker(worldSize: attempt.placement.worldSize)
        self.startedAt = startedAt
        hang = HangDetector(stallTimeout: job.spec.failure.stallTimeout)
    }

    var finished: Bool { gone.count >= placement.worldSize }
    /// Whether this attempt runs with less data parallelism than the manifest asks for.
    var shrunken: Bool { placement.parallelism.data < job.spec.parallelism.data }
    var stopping: Bool { failure != nil || stop != nil }
    func owns(_ rank: RankRef) -> Bool { rank.job == job.id && rank.attempt == number }

    /// Updates steps/s from the progress rank's newest step.
    func sampleRate(now: Date) {
        guard let step else { return }
        guard let (then, before) = rateSample else {
            rateSample = (now, step)
            return
        }
        let dt = now.timeIntervalSince(then)
        guard dt >= 2 else { return }
        stepsPerSecond = Double(step - before) / dt
        rateSample = (now, step)
    }
}
