import FaultPolicy
import Foundation
import RingmasterModel

#if canImport(Glibc)
import Glibc
#endif

/// In-process rejoin (`warm.rejoin`): the survivors of a failed attempt abandon their step instead of being
/// stopped, answer the step they hold, and join the next attempt in their processes beside the ranks started
/// in place of the lost ones. Anything that goes wrong on the way — a survivor that does not answer in time,
/// another rank lost, replicas that disagree, a backoff, a survivor that would have to move — falls back to the
/// cold restart from the newest committed checkpoint, with the reason as an event.
extension JobSupervisor {
    /// Whether the failure may be recovered in process: the job allows it, the attempt was stepping (its
    /// survivors hold a state) and the failure is a lost rank, node or a hang.
    func mayRejoin(_ failure: Failure, _ a: AttemptRun) -> Bool {
        guard spec.warm?.rejoin != nil, a.stepping, a.stop == nil else { return false }
        switch failure.kind {
        case .rankExit, .nodeLost, .hang: return true
        case .launchError, .checkpointCorrupt: return false
        }
    }

    /// Asks the survivors to abandon their step (the failed rank, if it still runs, is killed) and waits for
    /// their answers until the deadline. False when the failure is not one to rejoin from.
    mutating func startRejoin(_ failure: Failure, _ fleet: inout FleetState) -> Bool {
        guard !fleet.shuttingDown, var a = attempt, let limit = spec.warm?.rejoin, mayRejoin(failure, a) else { return false }
        let survivors = a.live.filter { $0.rank != failure.rank }
        guard !survivors.isEmpty else { return false }
        let deadline = fleet.now + limit.seconds
        a.rejoin = RejoinGather(survivors: survivors, deadline: deadline)
        phase = .running(a)
        fleet.record(.rejoinAsked(survivors: survivors.map(\.rank), seconds: limit.seconds), job: id, attempt: a.number)
        fleet.emit(.abandon(AbandonOrder(job: id, attempt: a.number, ranks: survivors, deadline: limit)))
        if let rank = failure.rank, !a.gone.contains(rank), rank < a.placement.worldSize {
            // A hung rank: its state is lost, and its peers wait on it until it is gone.
            fleet.emit(.signal(SignalOrder(job: id, attempt: a.number, ranks: [a.placement.ranks[rank]], signal: SIGKILL,
                                           grace: fleet.gracePeriod)))
        }
        fleet.emit(.setTimer(.rejoin(id, attempt: a.number), at: deadline))
        return true
    }

    /// A survivor's answer: once every survivor answered and the failed ranks are gone, the decision.
    mutating func held(_ rank: RankRef, _ state: HeldState, _ fleet: inout FleetState) {
        guard var a = attempt, a.owns(rank, job: id), var gather = a.rejoin,
              gather.survivors.contains(where: { $0.rank == rank.rank })
        else { return }
        gather.held[rank.rank] = state
        a.rejoin = gather
        phase = .running(a)
        decideRejoin(&fleet)
    }

    /// The step to resume from (`RejoinPlanner`), once every survivor answered and every other rank is gone:
    /// the survivors are handed on to the next attempt — gone from this one without exiting — or, when no step
    /// is usable, stopped for a cold restart.
    mutating func decideRejoin(_ fleet: inout FleetState) {
        guard var a = attempt, let gather = a.rejoin, gather.answered else { return }
        let survivors = Set(gather.survivors.map(\.rank))
        guard a.placement.ranks.allSatisfy({ survivors.contains($0.rank) || a.gone.contains($0.rank) }) else { return }
        let shard = Dictionary(uniqueKeysWithValues: a.placement.ranks.map { ($0.rank, $0.pp * (1 << 20) + $0.tp) })
        switch RejoinPlanner.decide(held: gather.held, coordinate: shard, newestCheckpoint: resumeCandidates.first) {
        case .cold(let reason):
            coldFallback(reason, &fleet)
        case .rejoin(let step, let reason):
            fleet.emit(.cancelTimer(.rejoin(id, attempt: a.number)))
            fleet.record(.rejoinDecided(step: step, reason: reason), job: id, attempt: a.number)
            a.rejoin = nil
            a.adopted = RejoinHandOff(from: a.number, survivors: gather.survivors, step: step)
            a.gone.formUnion(survivors)
            phase = .running(a)
            finishIfDone(&fleet)
        }
    }

    /// The rejoin is off: the survivors are stopped (SIGKILL: their state no longer matters) and the attempt
    /// ends as any failed one, for a cold restart.
    mutating func coldFallback(_ reason: String, _ fleet: inout FleetState) {
        guard var a = attempt, a.rejoin != nil else { return }
        fleet.emit(.cancelTimer(.rejoin(id, attempt: a.number)))
        a.rejoin = nil
        phase = .running(a)
        fleet.record(.rejoinDecided(step: nil, reason: reason), job: id, attempt: a.number)
        signalSurvivors(SIGKILL, &fleet)
    }

    /// The survivors had their time: those that did not answer (or a failed rank not gone) end the rejoin.
    mutating func rejoinTimer(attempt number: Int, _ fleet: inout FleetState) {
        guard let a = attempt, a.number == number, let gather = a.rejoin else { return }
        let silent = gather.survivors.map(\.rank).filter { gather.held[$0] == nil }
        let seconds = spec.warm?.rejoin?.seconds ?? 0
        let reason = silent.isEmpty
            ? String(format: "the failed ranks were not gone within %.0f s", seconds)
            : "rank\(silent.count == 1 ? "" : "s") \(silent.map(String.init).joined(separator: ", ")) did not answer "
                + String(format: "within %.0f s", seconds)
        coldFallback(reason, &fleet)
    }

    /// A later failure while the survivors are asked (a survivor lost, its node lost) ends the rejoin.
    mutating func failedDuringRejoin(_ failure: Failure, _ fleet: inout FleetState) -> Bool {
        guard let a = attempt, let gather = a.rejoin else { return false }
        let survivor = failure.rank.map { r in gather.survivors.contains { $0.rank == r } } ?? false
        let survivorsNode = failure.node.map { n in gather.survivors.contains { $0.node == n } } ?? false
        guard survivor || (failure.kind == .nodeLost && survivorsNode) else { return false }
        coldFallback("\(failure.kind.rawValue) during the rejoin: \(failure.cause)", &fleet)
        return true
    }

    /// Survivors handed on that will not be adopted after all (a backoff, a move, no nodes, the job's end): they
    /// are stopped, and the next attempt starts cold.
    func dropHandOff(_ handOff: RejoinHandOff, _ reason: String, _ fleet: inout FleetState) {
        fleet.record(.rejoinDecided(step: nil, reason: reason), job: id, attempt: handOff.from)
        fleet.emit(.signal(SignalOrder(job: id, attempt: handOff.from, ranks: handOff.survivors, signal: SIGKILL,
                                       grace: fleet.gracePeriod)))
    }
}
