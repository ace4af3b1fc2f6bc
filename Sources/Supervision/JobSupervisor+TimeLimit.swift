import FaultPolicy
import Foundation
import RingmasterModel

#if canImport(Glibc)
import Glibc
#endif

/// A `checkpoint-now` the supervisor asked of an attempt before its nodes' time limit.
public struct TimeLimitRequest: Hashable, Sendable {
    /// The step every rank is asked to save.
    public var step: Int
    /// Steps allowed past `step` before the request is taken as missed and made again for a later step.
    public var margin: Int
    /// The progress step when it was first asked (a commit of this step or later ends the attempt).
    public var since: Int
    /// Why (the holder job's warning).
    public var cause: String
}

/// The time limit of a node source (a Slurm holder job's `--signal` warning): the attempt on those nodes
/// commits a checkpoint now, stops at it, and the job resumes from it on other nodes.
///
/// ```
/// time limit on its nodes ─▶ checkpoint-now STEP to every rank ─▶ COMMITTED (STEP or later) ─▶ stop (move)
///        │ (no checkpoint configured: runs on until the limit)            │ (step passed, not committed)
///        ▼                                                               ▼
///   nothing asked                                       checkpoint-now LATER STEP
/// ```
extension JobSupervisor {
    /// The ranks' steps are in lockstep (each step ends in collectives), but a request takes a moment to reach
    /// them: ask for the step about two seconds ahead, at least two steps.
    func requestMargin() -> Int {
        guard let longest = intervals.longest, longest > 0 else { return 2 }
        return min(1000, max(2, Int((2.0 / longest).rounded(.up))))
    }

    mutating func timeLimitApproaching(_ nodes: Set<NodeID>, cause: String, _ fleet: inout FleetState) {
        guard var a = attempt, !a.stopping, a.timeLimit == nil, !a.placement.nodes.filter(nodes.contains).isEmpty else { return }
        guard spec.checkpoint != nil else {
            fleet.emit(.note(id, "\(id) has no checkpoints: it runs on until the time limit (\(cause))"))
            return
        }
        let now = a.step ?? a.resumeStep ?? 0
        let margin = requestMargin()
        a.timeLimit = TimeLimitRequest(step: now + margin, margin: margin, since: now, cause: cause)
        phase = .running(a)
        askForCheckpoint(a, &fleet)
    }

    func askForCheckpoint(_ a: AttemptRun, _ fleet: inout FleetState) {
        guard let request = a.timeLimit else { return }
        fleet.emit(.requestCheckpoint(CheckpointOrder(job: id, attempt: a.number, ranks: a.live, step: request.step)))
        fleet.emit(.note(id, "\(id): \(request.cause); asking attempt \(a.number) for a checkpoint of step \(request.step)"))
    }

    /// A progress step past the requested one plus its margin without the checkpoint: ask again, later.
    mutating func checkTimeLimitRequest(_ fleet: inout FleetState) {
        guard var a = attempt, !a.stopping, var request = a.timeLimit, let step = a.step,
              step >= request.step + request.margin, !committed.contains(where: { $0 >= request.step })
        else { return }
        request.margin = min(1000, request.margin * 2)
        request.step = step + request.margin
        a.timeLimit = request
        phase = .running(a)
        askForCheckpoint(a, &fleet)
    }

    /// A checkpoint committed after the request: the attempt stops there and the job moves.
    mutating func timeLimitCommitted(step: Int, _ fleet: inout FleetState) {
        guard var a = attempt, !a.stopping, let request = a.timeLimit, step >= request.since else { return }
        a.stop = .move(step: step)
        phase = .running(a)
        fleet.emit(.note(id, "\(id): checkpoint step \(step) committed before the time limit; stopping attempt \(a.number) "
            + "to resume on other nodes"))
        cancelHangTimer(a, &fleet)
        signalSurvivors(SIGTERM, &fleet)
    }
}
