import FaultPolicy
import Foundation
import RingmasterModel
import Supervision
import Testing

/// Each failure kind from detection to the relaunch, on a manual clock with no processes.
@Suite struct FailureKindTests {
    /// A job of 4 ranks on n0, n1 (two each), stepping, with step 5 committed.
    static func running(spares: Int = 1, spec: JobSpec = Harness.spec(), inspects: Bool = false) -> (Harness, JobID) {
        var h = Harness(nodes: 2, spares: spares, inspects: inspects)
        let job = h.submit(spec)
        h.start(job)
        for s in 1...5 {
            h.advance(by: 0.1)
            h.step(job, s)
        }
        h.checkpoint(job, 5)
        h.advance(by: 0.1)
        h.step(job, 6)
        return (h, job)
    }

    @Test func aRankExitRestartsAtOnceOnTheSameNodesFromTheCommittedStep() {
        var (h, job) = Self.running()
        #expect(h.launches.count == 1 && h.launches[0].resumeStep == nil)
        h.exit(job, rank: 3, status: 7)
        #expect(h.failures(job).map(\.kind) == [.rankExit])
        #expect(h.jobStates[job] == .recovering)
        #expect(h.signals.last?.signal == SIGTERM && h.signals.last?.ranks.map(\.rank) == [0, 1, 2])
        h.advance(by: 0.2)
        h.survivorsExit(job)
        #expect(h.events(.recoveryTeardown, job: job).count == 1)
        guard case .decision(_, let delay, .rankExit, true)? = h.events(.recoveryDecision, job: job).last?.detail else {
            Issue.record("no restart decision")
            return
        }
        #expect(delay == 0)
        #expect(h.launches.count == 2)
        #expect(h.launches[1].resumeStep == 5 && h.launches[1].recovering)
        #expect(h.launches[1].placement.nodes == h.launches[0].placement.nodes)
        #expect(h.launches[1].token != h.launches[0].token)
        h.start(job)
        h.advance(by: 0.3)
        h.step(job, 6)
        guard case .recoveryComplete(.rankExit, let phases)? = h.events(.recoveryComplete, job: job).last?.detail else {
            Issue.record("no recovery.complete")
            return
        }
        #expect(abs(phases.total - 0.5) < 1e-9 && abs(phases.teardown - 0.2) < 1e-9 && phases.backoff == 0)
        #expect(phases.lostSteps == 1 && phases.resumeStep == 5)
        #expect(h.core.jobs[job]?.restarts == 1)
    }

    @Test func aLostNodeWhosePeersExitFirstIsTheRootCauseAndTheRelaunchAvoidsIt() {
        var (h, job) = Self.running()
        // n1's agent dies: its peers on n0 see the broken ring and exit 1 before the loss is known.
        h.unreachable.insert("n1")
        h.exit(job, rank: 0, status: 1)
        // The stop signal finds no channel to n1: that is n1's loss (the node manager says so later).
        #expect(h.failures(job).map(\.kind) == [.rankExit, .nodeLost])
        h.survivorsExit(job)
        h.send(.node("n1", .lost, cause: "channel closed", accelerators: nil))
        #expect(h.launches.count == 2)
        let nodes = Set(h.launches[1].placement.nodes)
        #expect(!nodes.contains("n1") && nodes.contains("n2"))
        guard case .decision(let summary, _, .nodeLost, true)? = h.events(.recoveryDecision, job: job).last?.detail else {
            Issue.record("the decision is not node-lost")
            return
        }
        #expect(summary.contains("without n1"))
    }

    @Test func aNodeLostDuringTeardownRefinesTheCauseAndIsExcluded() {
        var (h, job) = Self.running()
        h.exit(job, rank: 0, status: 1)
        h.send(.node("n1", .lost, cause: "heartbeats stopped", accelerators: nil))
        #expect(h.failures(job).map(\.kind) == [.rankExit, .nodeLost])
        h.survivorsExit(job)
        #expect(!h.launches[1].placement.nodes.contains("n1"))
        // Counted once: one decision, one restart.
        #expect(h.events(.recoveryDecision, job: job).count == 1 && h.core.jobs[job]?.restarts == 1)
    }

    @Test func aCorruptCheckpointIsMarkedAndTheRelaunchFallsBack() {
        var (h, job) = Self.running()
        h.checkpoint(job, 10)
        h.exit(job, rank: 1, status: 1)
        h.survivorsExit(job)
        #expect(h.launches[1].resumeStep == 10)
        h.start(job)
        h.exit(job, rank: 2, status: 86)
        #expect(h.failures(job).last?.kind == .checkpointCorrupt)
        h.survivorsExit(job)
        h.advance(by: 1)
        #expect(h.corrupt[job] == [10])
        #expect(h.launches.count == 3 && h.launches[2].resumeStep == 5)
    }

    @Test func aForeignMarkerIsSkippedAndMarkedCorrupt() {
        var (h, job) = Self.running()
        h.checkpoint(job, 10)
        h.foreignMarkers[job] = [10]
        h.exit(job, rank: 1, status: 1)
        h.survivorsExit(job)
        #expect(h.corrupt[job] == [10] && h.launches[1].resumeStep == 5)
    }

    @Test func anExecErrorFailsTheJobWithoutARestart() {
        var h = Harness(nodes: 2)
        let job = h.submit(Harness.spec())
        h.exit(job, rank: 0, status: nil, error: "exec `train`: No such file or directory")
        h.survivorsExit(job)
        #expect(h.jobStates[job] == .failed && h.launches.count == 1)
        #expect(h.jobReasons[job]??.contains("could not start") == true)
    }

    @Test func theSameQuickExitTwiceIsALaunchError() {
        var h = Harness(nodes: 2)
        let job = h.submit(Harness.spec())
        for _ in 0..<2 {
            h.start(job)
            h.advance(by: 0.5)
            h.exit(job, rank: 1, status: 2)
            h.survivorsExit(job)
            h.advance(by: 1)
        }
        #expect(h.jobStates[job] == .failed && h.launches.count == 2)
        #expect(h.jobReasons[job]??.contains("a launch error") == true)
    }

    @Test func theBudgetIsSpentThenTheJobFails() {
        var (h, job) = Self.running(spec: Harness.spec(maxRestarts: 1))
        h.exit(job, rank: 0, status: 1, signal: nil)
        h.survivorsExit(job)
        h.start(job)
        h.advance(by: 10)
        h.step(job, 6)
        h.exit(job, rank: 0, status: 1)
        h.survivorsExit(job)
        #expect(h.jobStates[job] == .failed && h.launches.count == 2)
        #expect(h.jobReasons[job]??.contains("restart budget of 1 spent") == true)
    }

    @Test func backoffGrowsOnlyWithFailuresWithoutACommit() {
        var (h, job) = Self.running(spec: Harness.spec(backoff: .seconds(1)))
        #expect(h.failAndDelay(job) == 0)
        h.start(job)
        let second = h.failAndDelay(job) ?? -1
        #expect(second >= 0.8 && second <= 1.2)
        h.start(job)
        let third = h.failAndDelay(job) ?? -1
        #expect(third >= 1.6 && third <= 2.4)
        // A committed checkpoint resets the chain: the next failure restarts at once again.
        h.start(job)
        h.checkpoint(job, 20)
        #expect(h.failAndDelay(job) == 0)
    }

    @Test func aSilentRankIsAHangStoppedWithSIGKILL() {
        var (h, job) = Self.running()
        h.advance(by: 2.9)
        #expect(h.failures(job).isEmpty)
        h.advance(by: 0.1)
        #expect(h.failures(job).map(\.kind) == [.hang])
        #expect(h.failures(job).first?.timeout?.why == "the job's stallTimeout of 3s")
        #expect(h.signals.last?.signal == SIGKILL && h.signals.last?.ranks.count == 4)
    }

    @Test func onALocalClusterTheStoppedRankIsNamedAsHung() {
        var (h, job) = Self.running(inspects: true)
        h.inspectStopped = [2]
        h.advance(by: 3)
        let hang = h.failures(job).first
        #expect(hang?.kind == .hang && hang?.rank == 2 && hang?.node == "n1")
        #expect(h.all.contains { if case .inspectRanks = $0 { true } else { false } })
    }

    @Test func autoStallTimeoutFiresAfterFiveTimesTheLongestStep() {
        var (h, job) = Self.running(spec: Harness.spec(stall: .auto))
        for s in 7...12 {
            h.advance(by: 0.1)
            h.step(job, s)
        }
        h.advance(by: 0.49)
        #expect(h.failures(job).isEmpty)
        // Steps every 100 ms: 5 × 0.1 s = 0.5 s is under the 1 s floor.
        h.advance(by: 0.51)
        let hang = h.failures(job).first
        #expect(hang?.kind == .hang && hang?.timeout?.seconds == 1)
        #expect(hang?.cause.contains("auto: 5 × the longest") == true)
    }
}
