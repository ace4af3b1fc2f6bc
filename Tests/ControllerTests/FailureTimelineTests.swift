import ControllerAPI
import Foundation
import RingmasterModel
import StateStore
import Testing

import Controller

@Suite struct FailureTimelineBehaviour {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func event(_ id: Int64, _ at: Double, _ kind: EventKind, attempt: Int64? = nil, node: String? = nil, rank: Int? = nil,
               _ message: String = "", _ payload: String? = nil) -> EventRecord {
        var e = EventRecord(time: t0 + at, kind: kind, jobId: "demo-3d-1", attemptId: attempt, nodeId: node.map { NodeID($0) },
                            rank: rank, message: message, payload: payload)
        e.id = id
        return e
    }

    /// A node killed by chaos: a peer's exit is seen first, the lost node is the root cause; then the phases.
    var killedNode: [EventRecord] {
        [event(1, 0, .attemptStarted, attempt: 11),
         event(2, 10, .chaosInjected, attempt: 11, node: "local-2"),
         event(3, 10.4, .failureDetected, attempt: 11, node: "local-0", rank: 1,
               "rank-exit in attempt 1 of demo-3d-1 at step 104: rank 1 exited with status 1; last lines: a ⏎ b",
               #"{"detectionSeconds":"0.400","exitStatus":"1","injected":"kill-node local-2","injectedAt":"\#(t0.timeIntervalSince1970 + 10)","kind":"rank-exit","step":"104"}"#),
         event(4, 10.6, .failureDetected, attempt: 11, node: "local-2", "node-lost …", #"{"kind":"node-lost","refines":"true"}"#),
         event(5, 11.5, .recoveryTeardown, attempt: 11, "all 8 ranks gone", #"{"teardownSeconds":1.1}"#),
         event(6, 11.5, .recoveryDecision, attempt: 11, "demo-3d-1: restart without local-2", #"{"delaySeconds":0}"#),
         event(7, 11.6, .recoveryRelaunch, attempt: 12, "relaunched"),
         event(8, 14, .attemptStepping, attempt: 12),
         event(9, 14, .recoveryComplete, attempt: 12, "recovered",
               #"{"backoffSeconds":0.1,"firstStep":101,"lostSteps":4,"recoverySeconds":3.6,"relaunchSeconds":0.4,"rendezvousRestoreFirstStepSeconds":2.0,"resumeStep":100,"teardownSeconds":1.1}"#)]
    }

    @Test func aFailureIsReadBackWithItsRootCauseAndPhases() throws {
        let failures = FailureTimeline.failures(killedNode, attempts: [11: 1, 12: 2])
        #expect(failures.count == 1)
        let f = try #require(failures.first)
        #expect(f.kind == "node-lost" && f.node == "local-2" && f.rank == 1 && f.attempt == 1)
        #expect(f.detectionSeconds == 0.4 && f.recoverySeconds == 3.6 && f.lostSteps == 4 && f.resumeStep == 100)
        #expect(f.step == 104 && f.exitStatus == 1 && f.injected == "kill-node local-2")
        #expect(f.message == "rank-exit in attempt 1 of demo-3d-1 at step 104: rank 1 exited with status 1")
        #expect(f.lastLines == ["a", "b"])
        #expect(f.outcome == "recovered")
        #expect(f.events == [3, 4, 5, 6, 7, 9])
        #expect(f.phases.map(\.name) == ["detection", "teardown", "decision", "backoff", "relaunch", "first-step"])
        #expect(f.phases.map(\.seconds) == [0.4, 1.1, 0, 0.1, 0.4, 2.0])
        // One after the other from the injection.
        #expect(f.phases[0].start == t0 + 10)
        #expect(f.phases[1].start == t0 + 10.4)
        #expect(abs(f.phases[5].start.timeIntervalSince(t0 + 10.4 + 1.1 + 0.1 + 0.4)) < 1e-6)
        let summary = FailureTimeline.summary(failures, firstEvent: t0, now: t0 + 100, accelerators: 8)
        #expect(summary.byNode == ["local-2": 1] && summary.byKind == ["node-lost": 1])
        #expect(summary.observedMTBFSeconds == 100 && summary.plannerMTBFSeconds == 50_000 * 3600 / 8)
    }

    @Test func unfinishedAndEndedRecoveriesSayHowTheyStand() {
        let partial = Array(killedNode.prefix(6))
        let f = FailureTimeline.failures(partial, attempts: [:])
        #expect(f.count == 1 && f[0].outcome == "recovering" && f[0].recoverySeconds == nil && f[0].attempt == nil)
        #expect(f[0].phases.map(\.name) == ["detection", "teardown", "decision"])
        let failed = partial + [event(10, 12, .jobState, #"job demo-3d-1 recovering → failed"#, #"{"from":"recovering","to":"failed"}"#)]
        #expect(FailureTimeline.failures(failed, attempts: [:]).map(\.outcome) == ["failed"])
        // A second failure before the first recovered supersedes it.
        let again = partial + [event(11, 13, .failureDetected, attempt: 12, node: "local-1", "hang …", #"{"kind":"hang","step":""}"#)]
        let both = FailureTimeline.failures(again, attempts: [:])
        #expect(both.map(\.outcome) == ["superseded", "recovering"])
        #expect(both[1].kind == "hang" && both[1].step == nil && both[1].phases.isEmpty)
        #expect(FailureTimeline.summary([], firstEvent: nil, now: t0, accelerators: 0).observedMTBFSeconds == nil)
    }
}

@Suite struct ConsoleSessionBehaviour {
    final class Clock: @unchecked Sendable { var now = Date(timeIntervalSince1970: 1_800_000_000) }

    @Test func aCodeSignsInOnceAndOnlyBeforeItExpires() {
        let clock = Clock()
        let sessions = ConsoleSessions(codeLifetime: 60, sessionLifetime: 3600, now: { clock.now })
        let (code, expiry) = sessions.issueCode()
        #expect(code.count == 64 && expiry == clock.now + 60)
        let session = sessions.redeem(code)
        #expect(session != nil && session != code)
        #expect(sessions.isValid(session!))
        #expect(sessions.redeem(code) == nil, "a code works once")
        #expect(!sessions.isValid("forged") && !sessions.isValid(code))
        let late = sessions.issueCode().code
        clock.now += 61
        #expect(sessions.redeem(late) == nil, "an expired code signs no one in")
        clock.now += 3600
        #expect(!sessions.isValid(session!), "sessions expire")
        let another = sessions.redeem(sessions.issueCode().code)!
        sessions.end(another)
        #expect(!sessions.isValid(another))
        #expect(ConsoleSessions.cookieName(port: 7460) == "ringmaster_session_7460")
    }
}
