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
    /// Metric samples (and steps/s) not yet written to the job's series.
    var unsavedSamples: [String: [SeriesSample]] = [:]
    /// Each rank's newest step (a metric report follows its step report and is recorded at that step).
    var newestSteps: [Int: Int] = [:]
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

    /// Updates steps/s from the progress rank's newest step; true when it did.
    @discardableResult
    func sampleRate(now: Instant) -> Bool {
        guard let step else { return false }
        guard let (then, before) = rateSample else {
            rateSample = (now, step)
            return false
        }
        let dt = now.timeIntervalSince(then)
        guard dt >= 2 else { return false }
        stepsPerSecond = Double(step - before) / dt
        rateSample = (now, step)
        return true
    }

    /// Keeps a `metric NAME VALUE` report for the job's series when the progress rank made it: the rank
    /// whose steps the job's progress is (the last pipeline stage's first tensor and data rank, where the
    /// loss is computed; rank 0 without pipeline parallelism). Data-parallel replicas and other stages
    /// report the same names for their own share; one series never mixes them.
    func metric(_ name: String, _ value: Double, rank: Int, at time: Date) {
        guard rank == progressRank else { return }
        unsavedSamples[name, default: []].append(SeriesSample(time: time, step: newestSteps[rank], value: value))
    }

    /// The series name of the runner's own steps/s measurement.
    static let stepsPerSecondSeries = "steps_per_second"
}
