import FaultPolicy
import Foundation
import RingmasterModel
import Supervision
import Testing

/// Failures that overlap, quarantine, shrink and grow, cancel and the controller's restart.
@Suite struct OverlapTests {
    @Test func aSecondRankExitDuringTeardownIsAConsequenceCountedOnce() {
        var (h, job) = FailureKindTests.running()
        h.exit(job, rank: 1, status: 1)
        h.exit(job, rank: 2, status: 1)
        h.exit(job, rank: 3, status: nil, signal: 15)
        h.exit(job, rank: 0, status: nil, signal: 15)
        #expect(h.failures(job).count == 1)
        #expect(h.events(.recoveryDecision, job: job).count == 1 && h.launches.count == 2)
    }

    /// A first failure restarts at once; the second (no commit between) waits for its backoff of about 1 s.
    static func inBackoff() -> (Harness, JobID) {
        var (h, job) = FailureKindTests.running(spec: Harness.spec(backoff: .seconds(1)))
        _ = h.failAndDelay(job)
        h.start(job)
        h.advance(by: 1)
        h.step(job, 7)
        h.exit(job, rank: 0, status: 1)
        h.survivorsExit(job)
        return (h, job)
    }

    @Test func aHangWhoseNodeIsThenLostIsThatNodesLoss() {
        var (h, job) = FailureKindTests.running()
        // n1's agent is stopped: its ranks' (2, 3) reports stop first, and the hang timeout fires before the
        // agent's heartbeats are missed. The signal reaches the stopped agent's channel but not its ranks.
        h.advance(by: 0.2)
        for rank in [0, 1] { h.send(.step(RankRef(job: job, attempt: 1, rank: rank), step: 7)) }
        h.advance(by: 3)
        #expect(h.failures(job).map(\.kind) == [.hang] && h.failures(job).first?.node == "n1")
        for rank in [0, 1] { h.exit(job, rank: rank, status: nil, signal: 9) }
        h.send(.node("n1", .lost, cause: "heartbeats stopped", accelerators: nil))
        #expect(h.failures(job).map(\.kind) == [.hang, .nodeLost])
        guard case .decision(_, _, .nodeLost, true)? = h.events(.recoveryDecision, job: job).last?.detail else {
            Issue.record("the decision is not node-lost")
            return
        }
        #expect(!h.launches[1].placement.nodes.contains("n1"))
    }

    @Test func aNodeLostDuringBackoffIsLeftOutOfTheRelaunch() {
        var (h, job) = Self.inBackoff()
        #expect(h.launches.count == 2 && h.timers[.relaunch(job)] != nil)
        h.send(.node("n0", .lost, cause: "heartbeats stopped", accelerators: nil))
        h.advance(by: 2)
        #expect(h.launches.count == 3 && !h.launches[2].placement.nodes.contains("n0"))
    }

    @Test func cancelDuringBackoffEndsTheJobAndTheTimer() {
        var (h, job) = Self.inBackoff()
        let actions = h.send(.cancel(job, request: 7))
        #expect(h.jobStates[job] == .cancelled && h.timers[.relaunch(job)] == nil)
        #expect(actions.contains { if case .answerCancel(7, .success(job)) = $0 { true } else { false } })
        h.advance(by: 5)
        #expect(h.launches.count == 2)
        let again = h.send(.cancel(job, request: 8))
        #expect(again.contains { if case .answerCancel(8, .failure) = $0 { true } else { false } })
    }

    @Test func cancelWhileRunningAnswersOnceTheRanksAreGone() {
        var (h, job) = FailureKindTests.running()
        let first = h.send(.cancel(job, request: 1))
        #expect(!first.contains { if case .answerCancel = $0 { true } else { false } })
        #expect(h.signals.last?.signal == SIGTERM)
        h.survivorsExit(job)
        #expect(h.jobStates[job] == .cancelled)
        #expect(h.all.contains { if case .answerCancel(1, .success) = $0 { true } else { false } })
        #expect(h.failures(job).isEmpty && h.launches.count == 1)
    }

    @Test func aNodeFailingRepeatedlyIsQuarantinedAndNotUsedAgain() {
        var (h, job) = FailureKindTests.running(spec: Harness.spec(quarantineAfter: 2))
        for _ in 0..<2 {
            h.advance(by: 1)
            h.step(job, 7)
            h.exit(job, rank: 3, status: nil, signal: 11)
            h.survivorsExit(job)
            h.advance(by: 1)
            h.start(job)
        }
        #expect(h.nodeStates["n1"] == .quarantined)
        #expect(h.events(.nodeQuarantined).map(\.node) == ["n1"])
        #expect(!h.launches.last!.placement.nodes.contains("n1"))
        // Its agent reconnecting does not make it ready in the store; releasing it does.
        h.send(.node("n1", .ready, cause: "hello", accelerators: nil))
        #expect(h.nodeStates["n1"] == .quarantined)
        let release = h.send(.release("n1", request: 3))
        #expect(release.contains { if case .answerRelease(3, .success) = $0 { true } else { false } })
        #expect(h.nodeStates["n1"] == .ready)
    }

    @Test func aQuarantinedNodeStaysQuarantinedAcrossARestart() {
        var h = Harness(nodes: 0)
        let nodes = (0..<3).map { i in
            NodeSnapshot(entry: NodeEntry(id: NodeID("n\(i)"), host: "h\(i)", accelerators: Accelerator.simulated(count: 2, node: "n\(i)")),
                         quarantine: i == 1 ? "3 failures within 60 min" : nil)
        }
        h.send(.restored(RestoredState(jobs: [], nodes: nodes)))
        for n in nodes { h.send(.node(n.entry.id, .ready, cause: "hello", accelerators: nil)) }
        #expect(h.nodeStates["n1"] == nil)
        let job = h.submit(Harness.spec())
        #expect(Set(h.launches[0].placement.nodes) == ["n0", "n2"])
        _ = job
    }

    @Test func theControllerRestartingMidRecoveryResumesFromTheCommittedStep() {
        var h = Harness(nodes: 0)
        let nodes = (0..<2).map { i in
            NodeSnapshot(entry: NodeEntry(id: NodeID("n\(i)"), host: "h\(i)", accelerators: Accelerator.simulated(count: 2, node: "n\(i)")))
        }
        let job = JobSnapshot(id: "train-1", spec: Harness.spec(), state: .recovering, restarts: 1, attempts: 2, committed: [5, 10])
        let actions = h.send(.restored(RestoredState(jobs: [job], nodes: nodes, openAttempts: ["train-1": [2]])))
        #expect(actions.contains { if case .closeStaleAttempt("train-1", 2, _) = $0 { true } else { false } })
        #expect(h.jobStates["train-1"] == .pending)
        for n in nodes { h.send(.node(n.entry.id, .ready, cause: "hello", accelerators: nil)) }
        #expect(h.launches.count == 1 && h.launches[0].attempt == 3 && h.launches[0].resumeStep == 10)
        #expect(h.core.jobs["train-1"]?.restarts == 2)
    }

    @Test func aJobShrinksAfterTheGraceAndGrowsBackAtACheckpoint() {
        var (h, job) = FailureKindTests.running(spares: 0, spec: Harness.spec(minData: 1))
        h.send(.node("n1", .lost, cause: "heartbeats stopped", accelerators: nil))
        h.survivorsExit(job)
        #expect(h.launches.count == 1 && h.jobStates[job] == .pending)
        h.advance(by: 4.9)
        #expect(h.launches.count == 1)
        h.advance(by: 0.2)
        #expect(h.events(.recoveryShrink, job: job).count == 1)
        #expect(h.launches.count == 2 && h.launches[1].placement.parallelism.data == 1)
        h.start(job)
        h.send(.node("n1", .ready, cause: "agent restarted", accelerators: nil))
        h.step(job, 6)
        #expect(h.events(.recoveryComplete, job: job).count == 1)
        h.checkpoint(job, 10)
        #expect(h.events(.recoveryGrow, job: job).count == 1)
        h.survivorsExit(job)
        #expect(h.launches.count == 3 && h.launches[2].placement.parallelism.data == 2 && h.launches[2].resumeStep == 10)
    }

    @Test func shutdownStopsAttemptsAndPutsJobsBackToPending() {
        var (h, job) = FailureKindTests.running()
        h.send(.shutdown)
        #expect(!h.stopped)
        h.survivorsExit(job)
        #expect(h.stopped && h.jobStates[job] == .pending)
        #expect(h.finishedAttempts.last.map { $0.2 } == .stopped)
    }

    @Test func eventTimesFollowTheClock() {
        var (h, job) = FailureKindTests.running()
        h.exit(job, rank: 0, status: 1)
        h.advance(by: 0.5)
        h.survivorsExit(job)
        let times = h.events.filter { $0.job == job }.map(\.time)
        #expect(times == times.sorted())
    }
}
