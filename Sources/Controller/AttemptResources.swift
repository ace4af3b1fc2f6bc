import Checkpointing
import Collectives
import Foundation
import RingmasterModel
import StateStore

/// What the shell holds for a live attempt: its store row, rendezvous server, rank pids and the progress
/// not yet written. Decisions about the attempt are the supervisor's (`AttemptRun`).
final class AttemptResources {
    let job: JobRecord
    let attemptID: Int64
    let number: Int
    let placement: Placement
    let rendezvous: RendezvousServer
    let layout: CheckpointLayout?
    let progressRank: Int
    var rankPIDs: [Int: Int32] = [:]
    /// Newest step per rank not yet written to the store.
    var unsavedSteps: [Int: Int] = [:]
    var step: Int?
    /// (time, step) of the progress rank a few seconds back, for steps/s.
    var rateSample: (Instant, Int)?
    var stepsPerSecond: Double = 0

    init(job: JobRecord, attempt: AttemptRecord, rendezvous: RendezvousServer) {
        self.job = job
        attemptID = attempt.id!
        number = attempt.number
        placement = attempt.placement
        self.rendezvous = rendezvous
        layout = CheckpointFolder.layout(of: job)
        progressRank = attempt.placement.ranks.last { $0.tp == 0 && $0.dp == 0 }?.rank ?? 0
    }

    func owns(_ rank: RankRef) -> Bool { rank.job == job.id && rank.attempt == number }

    /// Updates steps/s from the progress rank's newest step.
    func sampleRate(now: Instant) {
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
