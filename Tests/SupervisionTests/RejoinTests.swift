import FaultPolicy
import Foundation
import RingmasterModel
import Supervision
import Testing

/// In-process rejoin (`warm.rejoin`), decided by the pure core: the survivors are asked to abandon their step,
/// answer the step they hold, and the next attempt adopts them beside the ranks started in place of the lost
/// ones — or, on any trouble, the recovery falls back to the cold restart from the newest checkpoint.
@Suite struct RejoinTests {
    static func rejoinSpec(data: Int = 4, tensor: Int = 1, rejoin: Duration = .seconds(10), backoff: Duration = .zero) -> JobSpec {
        var spec = Harness.spec(data: data, tensor: tensor, backoff: backoff)
        spec.warm = WarmPolicy(python: "python3", preload: ["torch"], spares: 0, rejoin: rejoin)
        return spec
    }

    /// A running 4-rank job at step 12 with step 10 committed.
    static func running(_ spec: JobSpec = rejoinSpec()) -> (Harness, JobID) {
        var h = Harness(nodes: 2)
        let job = h.submit(spec)
        h.start(job)
        h.step(job, 10)
        h.checkpoint(job, 10)
        h.advance(by: 1)
        h.step(job, 12)
        return (h, job)
    }

    static func held(_ h: inout Harness, _ job: JobID, _ answers: [Int: (Int, String)]) {
        guard let a = h.attempt(job) else { return }
        for (rank, (step, digest)) in answers.sorted(by: { $0.key < $1.key }) {
            h.send(.held(RankRef(job: job, attempt: a.number, rank: rank), step: step, digest: digest))
        }
    }

    func decided(_ h: Harness, _ job: JobID) -> [(Int?, String)] {
        h.events(.recoveryRejoin, job: job).compactMap {
            if case .rejoinDecided(let step, let reason) = $0.detail { return (step, reason) }
            return nil
        }
    }

    @Test func aKilledRanksSurvivorsAreAdoptedAtTheStepTheyHoldAndOnlyTheLostRankIsLaunched() {
        var (h, job) = Self.running()
        let signalsBefore = h.signals.count
        h.exit(job, rank: 1, status: nil, signal: 9)
        // Asked to abandon, not stopped.
        #expect(h.abandons.last?.ranks.map(\.rank) == [0, 2, 3])
        #expect(h.abandons.last?.deadline == .seconds(10))
        #expect(h.signals.count == signalsBefore)
        #expect(h.timers[.rejoin(job, attempt: 1)] != nil)
        Self.held(&h, job, [0: (13, "aa"), 2: (13, "aa")])
        #expect(h.launches.count == 1, "no decision before every survivor answered")
        Self.held(&h, job, [3: (13, "aa")])
        let decisions = decided(h, job)
        #expect(decisions.count == 1 && decisions.first?.0 == 13, "\(decisions)")
        #expect(h.timers[.rejoin(job, attempt: 1)] == nil)
        let order = try! #require(h.launches.last)
        #expect(order.attempt == 2)
        #expect(order.resumeStep == 13, "the survivors' step, not the checkpoint's 10")
        #expect(order.rejoin == RejoinLaunch(from: 1, survivors: [0, 2, 3]))
        #expect(order.placement.ranks.map(\.node) == h.core.jobs[job]!.attempt!.placement.ranks.map(\.node))
        #expect(h.signals.count == signalsBefore, "no survivor is stopped")
        h.start(job)
        h.step(job, 14)
        let complete = h.events(.recoveryComplete, job: job).last
        if case .recoveryComplete(_, let phases)? = complete?.detail {
            #expect(phases.resumeStep == 13)
            #expect(phases.lostSteps == 0)
        } else {
            Issue.record("no recovery.complete")
        }
    }

    @Test func aHungRankIsKilledAndTheDecisionWaitsUntilItIsGone() {
        var (h, job) = Self.running()
        h.advance(by: 4)  // the stall timeout (3 s) passes
        #expect(h.failures(job).last?.kind == .hang)
        let hung = try! #require(h.failures(job).last?.rank)
        #expect(h.abandons.last?.ranks.count == 3)
        #expect(h.signals.last?.signal == SIGKILL && h.signals.last?.ranks.map(\.rank) == [hung])
        let survivors = (0..<4).filter { $0 != hung }
        Self.held(&h, job, Dictionary(uniqueKeysWithValues: survivors.map { ($0, (12, "bb")) }))
        #expect(h.launches.count == 1, "the hung rank still runs")
        h.exit(job, rank: hung, status: nil, signal: 9)
        #expect(h.launches.last?.rejoin?.survivors == survivors)
        #expect(h.launches.last?.resumeStep == 12)
    }

    @Test func survivorsThatDoNotAnswerInTimeAreStoppedForAColdRestart() {
        var (h, job) = Self.running()
        h.exit(job, rank: 1, status: nil, signal: 9)
        Self.held(&h, job, [0: (13, "aa"), 2: (13, "aa")])
        h.advance(by: 10)
        let decisions = decided(h, job)
        #expect(decisions.last?.0 == nil)
        #expect(decisions.last?.1.contains("rank 3 did not answer within 10 s") == true, "\(decisions)")
        #expect(h.signals.last?.signal == SIGKILL && h.signals.last?.ranks.map(\.rank) == [0, 2, 3])
        h.survivorsExit(job, signal: 9)
        #expect(h.launches.last?.attempt == 2)
        #expect(h.launches.last?.rejoin == nil)
        #expect(h.launches.last?.resumeStep == 10, "cold: the newest committed checkpoint")
    }

    @Test func aSecondRankLostDuringTheRejoinFallsBackToAColdRestart() {
        var (h, job) = Self.running()
        h.exit(job, rank: 1, status: nil, signal: 9)
        Self.held(&h, job, [0: (13, "aa")])
        h.exit(job, rank: 2, status: nil, signal: 9)
        #expect(decided(h, job).last?.0 == nil)
        #expect(decided(h, job).last?.1.contains("during the rejoin") == true)
        h.survivorsExit(job, signal: 9)
        #expect(h.launches.last?.rejoin == nil && h.launches.last?.resumeStep == 10)
    }

    @Test func replicasThatDisagreeMeanAColdRestart() {
        var (h, job) = Self.running()
        h.exit(job, rank: 1, status: nil, signal: 9)
        Self.held(&h, job, [0: (13, "aa"), 2: (13, "ab"), 3: (13, "aa")])
        #expect(decided(h, job).last?.0 == nil)
        #expect(decided(h, job).last?.1.contains("disagree") == true)
        h.survivorsExit(job, signal: 9)
        #expect(h.launches.last?.resumeStep == 10)
    }

    @Test func aControllerShutdownDuringTheRejoinStopsTheSurvivors() {
        var (h, job) = Self.running()
        h.exit(job, rank: 1, status: nil, signal: 9)
        h.send(.shutdown)
        #expect(decided(h, job).last?.1 == "the controller shuts down")
        #expect(h.signals.last?.ranks.map(\.rank) == [0, 2, 3])
        h.survivorsExit(job)
        #expect(h.launches.count == 1)
    }

    @Test func aBackoffDropsTheHandOff() {
        // Failures in a row without a commit back off: the survivors do not wait for that.
        var (h, job) = Self.running(Self.rejoinSpec(backoff: .seconds(2)))
        h.exit(job, rank: 1, status: nil, signal: 9)
        Self.held(&h, job, [0: (13, "aa"), 2: (13, "aa"), 3: (13, "aa")])
        guard case .decision(_, let delay, _, _)? = h.events(.recoveryDecision, job: job).last?.detail else {
            Issue.record("no decision")
            return
        }
        if delay > 0 {
            #expect(decided(h, job).last?.0 == nil)
            #expect(h.signals.last?.attempt == 1 && h.signals.last?.ranks.map(\.rank) == [0, 2, 3])
            h.advance(by: delay)
            #expect(h.launches.last?.rejoin == nil)
        } else {
            #expect(h.launches.last?.rejoin != nil)
        }
    }

    @Test func aJobWithoutRejoinStopsItsSurvivorsAsBefore() {
        var h = Harness(nodes: 2)
        let job = h.submit(Harness.spec(data: 4, tensor: 1))
        h.start(job)
        h.step(job, 3)
        h.exit(job, rank: 1, status: nil, signal: 9)
        #expect(h.abandons.isEmpty)
        #expect(h.signals.last?.signal == SIGTERM)
    }

    @Test func aFailureBeforeTheFirstStepIsNotRejoined() {
        var h = Harness(nodes: 2)
        let job = h.submit(Self.rejoinSpec())
        h.start(job)
        h.exit(job, rank: 1, status: nil, signal: 9)
        #expect(h.abandons.isEmpty)
    }
}

/// `RejoinPlanner`: the newest step a survivor of every model shard holds, with agreeing replicas.
@Suite struct RejoinPlannerTests {
    @Test func theNewestStepEveryShardHoldsWins() {
        // data 2 × tensor 2: shards 0 and 1 (the tensor coordinate); rank 3 (shard 1) was lost.
        let shard = [0: 0, 1: 1, 2: 0, 3: 1]
        let held = [0: HeldState(step: 8, digest: "a"), 1: HeldState(step: 7, digest: "b"), 2: HeldState(step: 7, digest: "c")]
        // Step 8: shard 1 has no holder; step 7: rank 2 (shard 0) and rank 1 (shard 1).
        #expect(RejoinPlanner.decide(held: held, coordinate: shard, newestCheckpoint: 5)
            == .rejoin(step: 7, reason: "2 of 3 survivors hold step 7; rank 0 takes it from a peer"))
    }

    @Test func survivorsBehindTakeTheStateFromAPeer() {
        let shard = [0: 0, 1: 0, 2: 0, 3: 0]
        let held = [0: HeldState(step: 9, digest: "a"), 1: HeldState(step: 8, digest: "z"), 2: HeldState(step: 9, digest: "a")]
        guard case .rejoin(let step, let reason) = RejoinPlanner.decide(held: held, coordinate: shard, newestCheckpoint: 5) else {
            Issue.record("expected a rejoin")
            return
        }
        #expect(step == 9)
        #expect(reason.contains("rank 1 takes it from a peer"))
    }

    @Test func disagreeingReplicasAndMissingShardsAreCold() {
        let shard = [0: 0, 1: 0, 2: 1, 3: 1]
        let disagree = [0: HeldState(step: 9, digest: "a"), 1: HeldState(step: 9, digest: "b"), 2: HeldState(step: 9, digest: "c")]
        guard case .cold(let why) = RejoinPlanner.decide(held: disagree, coordinate: shard, newestCheckpoint: nil) else {
            Issue.record("expected cold")
            return
        }
        #expect(why.contains("disagree at step 9"))
        // Shard 1 lost both replicas.
        let missing = [0: HeldState(step: 9, digest: "a"), 1: HeldState(step: 9, digest: "a")]
        #expect(RejoinPlanner.decide(held: missing, coordinate: shard, newestCheckpoint: nil)
            == .cold(reason: "no step is held by a survivor of every pipeline and tensor coordinate"))
        #expect(RejoinPlanner.decide(held: [:], coordinate: shard, newestCheckpoint: nil) == .cold(reason: "no rank survived to rejoin"))
        let old = [0: HeldState(step: 4, digest: "a"), 2: HeldState(step: 4, digest: "c")]
        guard case .cold(let behind) = RejoinPlanner.decide(held: old, coordinate: shard, newestCheckpoint: 5) else {
            Issue.record("expected cold")
            return
        }
        #expect(behind.contains("behind the committed checkpoint 5"))
    }
}
