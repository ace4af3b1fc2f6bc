import FaultPolicy
import Foundation
import RingmasterModel
import Testing

/// A manual clock: instants from a fixed origin.
let t0 = Date(timeIntervalSince1970: 1_800_000_000)
func at(_ seconds: Double) -> Instant {
    Instant(monotonic: .milliseconds(Int64((seconds * 1000).rounded())), wall: t0.addingTimeInterval(seconds))
}

@Suite struct HangDetectorTests {
    @Test func aRankSilentForTheStallTimeoutAfterItsFirstStepIsHung() {
        var d = HangDetector(stallTimeout: .seconds(30))
        #expect(d.stalled(at: at(1000)) == nil)  // nothing reported yet: never a hang
        #expect(d.nextDeadline == nil)
        d.stepped(rank: 0, step: 1, at: at(0))
        d.stepped(rank: 1, step: 1, at: at(0.5))
        d.stepped(rank: 0, step: 2, at: at(10))
        #expect(d.nextDeadline == at(30.5))
        #expect(d.stalled(at: at(30.4)) == nil)
        let hung = d.stalled(at: at(30.5))
        #expect(hung?.rank == 1 && hung?.step == 1 && hung?.silentFor == 30)
        d.exited(rank: 1, at: at(30.5))
        #expect(d.stalled(at: at(30.5)) == nil)
        #expect(d.stalled(at: at(40))?.rank == 0)
    }

    @Test func aSectionLongerThanTheStallTimeoutIsNotAHangButOneOutlivingItsOwnTimeoutIs() {
        var d = HangDetector(stallTimeout: .seconds(30))
        d.stepped(rank: 0, step: 5, at: at(0))
        d.stepped(rank: 1, step: 5, at: at(0))
        // Rank 0 evaluates for up to 10 minutes; rank 1 waits for it in a collective, silent too.
        d.sectionOpened(rank: 0, name: "eval", seconds: 600, at: at(1))
        #expect(d.nextDeadline == at(601))
        #expect(d.stalled(at: at(300)) == nil)
        #expect(d.stalled(at: at(600.9)) == nil)
        #expect(d.stalled(at: at(601)) == HangDetector.Stall(rank: 0, step: 5, silentFor: 600, timeout: 600, section: "eval",
                                                                           why: "the section's own timeout"))
        // Ended in time: every rank's stall clock starts again at the end, with the normal timeout.
        d.sectionEnded(rank: 0, at: at(400))
        #expect(d.nextDeadline == at(430))
        #expect(d.stalled(at: at(429)) == nil)
        let hung = d.stalled(at: at(430))
        #expect(hung?.timeout == 30 && hung?.section == nil && hung?.silentFor == 30)
        // A rank that exits inside its section is forgotten with it, and the others' clocks start again.
        d.stepped(rank: 0, step: 9, at: at(431))
        d.sectionOpened(rank: 1, name: "save", seconds: 50, at: at(431))
        d.exited(rank: 1, at: at(450))
        #expect(d.nextDeadline == at(480))
        #expect(d.stalled(at: at(479)) == nil)
        #expect(d.stalled(at: at(480))?.rank == 0)
    }
}

@Suite struct LaunchErrorTests {
    @Test func execFailureIsDeterministicAtOnce() {
        var d = LaunchErrorDetector()
        #expect(d.causeExited(rank: 0, node: "a", status: nil, signal: nil, execError: "no such file: trian",
                              secondsSinceStart: 0) == .deterministic("rank 0 on a could not start: no such file: trian"))
    }

    @Test func theSameQuickExitOnTwoNodesIsDeterministic() {
        var d = LaunchErrorDetector(window: .seconds(10))
        guard case .suspicious = d.causeExited(rank: 3, node: "a", status: 2, signal: nil, execError: nil,
                                               secondsSinceStart: 1.5, couldMove: true) else {
            Issue.record("first quick exit should be suspicious")
            return
        }
        let v = d.causeExited(rank: 3, node: "b", status: 2, signal: nil, execError: nil, secondsSinceStart: 0.8, couldMove: true)
        #expect(v == .deterministic("rank 3 exited with status 2 within 10 s of starting on a and then on b: a launch error, not restarted"))
        // A kill from outside is never a launch error, nor is an exit after the first step.
        var e = LaunchErrorDetector()
        #expect(e.causeExited(rank: 0, node: "a", status: nil, signal: 9, execError: nil, secondsSinceStart: 1) == .transient)
        #expect(e.causeExited(rank: 0, node: "a", status: 1, signal: nil, execError: nil, secondsSinceStart: 1,
                              beforeFirstStep: false) == .transient)
    }

    @Test func differentRanksStatusesOrLateExitsAreNot() {
        var d = LaunchErrorDetector(window: .seconds(10))
        _ = d.causeExited(rank: 3, node: "a", status: 2, signal: nil, execError: nil, secondsSinceStart: 1, couldMove: true)
        // Another status: a new suspicion, not a verdict.
        #expect(d.causeExited(rank: 3, node: "b", status: 1, signal: nil, execError: nil, secondsSinceStart: 1, couldMove: true)
            == .suspicious(.init(rank: 3, node: "b", status: 1, signal: nil)))
        // A late exit (the job trained a while) clears the chain.
        #expect(d.causeExited(rank: 3, node: "c", status: 1, signal: nil, execError: nil, secondsSinceStart: 60) == .transient)
        #expect(d.previous == nil)
        // Same node twice counts only when the rank could not have moved.
        _ = d.causeExited(rank: 1, node: "a", status: 9, signal: nil, execError: nil, secondsSinceStart: 1, couldMove: true)
        #expect(d.causeExited(rank: 1, node: "a", status: 9, signal: nil, execError: nil, secondsSinceStart: 1, couldMove: true)
            == .suspicious(.init(rank: 1, node: "a", status: 9, signal: nil)))
        guard case .deterministic = d.causeExited(rank: 1, node: "a", status: 9, signal: nil, execError: nil,
                                                  secondsSinceStart: 1, couldMove: false) else {
            Issue.record("same node, nowhere else to go: deterministic")
            return
        }
    }
}

@Suite struct RestartPolicyTests {
    @Test func theFirstRestartIsImmediateThenBackoffDoublesWithJitterAndIsCapped() {
        let p = RestartPolicy(maxRestarts: 3, backoff: .milliseconds(500), maxDelay: .seconds(4), jitter: 0.2)
        #expect(p.delay(consecutive: 1, unit: 0.5) == 0)
        #expect(p.delay(consecutive: 1, unit: 0.999) == 0)
        #expect(p.delay(consecutive: 2, unit: 0.5) == 0.5)
        #expect(p.delay(consecutive: 3, unit: 0.5) == 1)
        #expect(p.delay(consecutive: 4, unit: 0.5) == 2)
        #expect(p.delay(consecutive: 10, unit: 0.5) == 4)
        #expect(abs(p.delay(consecutive: 2, unit: 0) - 0.4) < 1e-12)
        #expect(abs(p.delay(consecutive: 2, unit: 0.999_999) - 0.6) < 1e-6)
        #expect(p.allowsRestart(after: 2) && !p.allowsRestart(after: 3))
    }
}

@Suite struct QuarantineTests {
    @Test func aNodeWithThresholdFailuresInTheWindowIsQuarantined() {
        var q = QuarantineTracker(threshold: 3, window: .seconds(600))
        #expect(q.failed("n1", kind: .rankExit, at: at(0)) == nil)
        #expect(q.failed("n1", kind: .hang, at: at(100)) == nil)
        #expect(q.failed("n2", kind: .nodeLost, at: at(150)) == nil)
        // The first failure has left the window: only two count.
        #expect(q.failed("n1", kind: .rankExit, at: at(650)) == nil)
        #expect(q.count("n1", at: at(650)) == 2)
        let reason = q.failed("n1", kind: .nodeLost, at: at(660))
        #expect(reason == "3 failures within 10 min (the last node-lost); release with `ringmaster nodes release n1`")
        #expect(q.count("n1", at: at(660)) == 0)
    }
}

@Suite struct RecoveryPlannerTests {
    let policy = RestartPolicy(maxRestarts: 2, backoff: .seconds(1), jitter: 0)

    @Test func aLostNodeIsExcludedAndCountsOnce() {
        let f = Failure(kind: .nodeLost, node: "n2", cause: "node n2 lost: heartbeats stopped", detectedAt: at(0))
        let d = RecoveryPlanner.decide(f, verdict: .transient, restarts: 0, consecutive: 1, policy: policy, unit: 0.5)
        // The first failure restarts at once.
        #expect(d.action == .restart && d.avoid == ["n2"] && d.exclude.isEmpty && d.delay == 0)
        #expect(d.summary.hasPrefix("restart without n2"))
        #expect(d.summary.hasSuffix("attempt 2 after 0.00 s (restart 1 of 2)"))
    }

    @Test func theBudgetEndsTheJobWithTheLastCause() {
        let f = Failure(kind: .rankExit, node: "n1", rank: 3, exitStatus: 1, cause: "rank 3 on n1: exit status 1", detectedAt: at(0))
        let d = RecoveryPlanner.decide(f, verdict: .transient, restarts: 2, consecutive: 3, policy: policy, unit: 0.5)
        #expect(d.action == .fail("restart budget of 2 spent; last failure rank-exit: rank 3 on n1: exit status 1"))
    }

    @Test func aLaunchErrorFailsAtOnceAndASuspectNodeIsAvoided() {
        let f = Failure(kind: .rankExit, node: "n1", rank: 0, exitStatus: 2, cause: "rank 0 on n1: exit status 2", detectedAt: at(0))
        let fail = RecoveryPlanner.decide(f, verdict: .deterministic("bad argv"), restarts: 0, consecutive: 1, policy: policy, unit: 0)
        #expect(fail.action == .fail("bad argv"))
        let suspect = RecoveryPlanner.decide(
            f, verdict: .suspicious(.init(rank: 0, node: "n1", status: 2, signal: nil)), restarts: 0, consecutive: 2,
            policy: policy, unit: 0.5)
        #expect(suspect.action == .restart && suspect.avoid == ["n1"] && suspect.exclude.isEmpty && suspect.delay == 1)
    }

    @Test func aQuarantinedNodeIsExcluded() {
        let f = Failure(kind: .hang, node: "n3", rank: 5, cause: "rank 5 on n3 silent 30 s", detectedAt: at(0))
        let d = RecoveryPlanner.decide(f, verdict: .transient, restarts: 0, consecutive: 1, policy: policy, quarantined: ["n3"], unit: 0.5)
        #expect(d.exclude == ["n3"])
        #expect(d.summary.contains("n3 is quarantined and is replaced"))
    }
}

@Suite struct AdaptiveStallTimeoutTests {
    @Test func autoStartsConservativeThenFollowsTheLongestRecentInterval() {
        var d = HangDetector(stallTimeout: .auto)
        #expect(d.stallTimeout == AdaptiveStallTimeout.startup)
        // Steps every 100 ms, one of 300 ms (a checkpoint save): 5 × 0.3 s = 1.5 s.
        var t = 0.0
        for step in 1...20 {
            t += step == 10 ? 0.3 : 0.1
            d.stepped(rank: 0, step: step, at: at(t))
        }
        #expect(abs(d.stallTimeout - 1.5) < 1e-9)
        #expect(d.stalled(at: at(t + 1.49)) == nil)
        let stall = d.stalled(at: at(t + 1.5))
        #expect(stall?.rank == 0 && stall?.section == nil)
        #expect(stall?.why.hasPrefix("auto: 5 × the longest of the last 19 step intervals (0.300 s)") == true)
    }

    @Test func fastStepsGetTheFloorAndTheHistoryCarriesOverToTheNextAttempt() {
        var d = HangDetector(stallTimeout: .auto)
        for step in 1...10 { d.stepped(rank: 0, step: step, at: at(Double(step) * 0.01)) }
        #expect(d.stallTimeout == AdaptiveStallTimeout.floor)
        let next = HangDetector(stallTimeout: .auto, intervals: d.intervals)
        #expect(next.stallTimeout == AdaptiveStallTimeout.floor)
    }

    @Test func aFixedTimeoutSaysSoAndIntervalsAcrossASectionDoNotCount() {
        var d = HangDetector(stallTimeout: .fixed(.seconds(3)))
        d.stepped(rank: 0, step: 1, at: at(0))
        #expect(d.stalled(at: at(3))?.why == "the job's stallTimeout of 3s")
        var a = HangDetector(stallTimeout: .auto)
        a.stepped(rank: 0, step: 1, at: at(0))
        a.sectionOpened(rank: 0, name: "eval", seconds: 100, at: at(0.1))
        a.stepped(rank: 0, step: 2, at: at(50))
        #expect(a.intervals.samples == 0)
    }
}

@Suite struct CheckpointCommits {
    @Test func aStepCommitsOnceWhenEveryRankReported() {
        var tracker = CommitTracker(worldSize: 3)
        #expect(tracker.report(rank: 0, step: 10) == nil)
        #expect(tracker.report(rank: 2, step: 10) == nil)
        #expect(tracker.report(rank: 2, step: 10) == nil)  // a repeated report does not count twice
        #expect(tracker.report(rank: 0, step: 20) == nil)
        #expect(tracker.report(rank: 1, step: 10) == 10)
        #expect(tracker.report(rank: 1, step: 10) == nil)  // committed once
        #expect(tracker.incomplete == [20])
        #expect(tracker.committed == [10])
    }
}
