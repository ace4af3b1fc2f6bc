import AgentCore
import AgentProtocol
import RingmasterModel
import Testing

@Suite struct SignalTests {
    @Test func aGracefulSignalBecomesSIGKILLAtTheDeadline() {
        let h = Harness(Harness.configuration(heartbeat: .seconds(60)))
        let ref = rankRef(0)
        h.launch(0, pid: 100)
        let term = h.at(1000, controller: .signal(SignalRequest(rank: ref, signal: SIGTERM, graceMilliseconds: 300)))
        #expect(term == [.signalGroup(pid: 100, signal: SIGTERM)])
        #expect(h.core.kills.deadline(of: ref) == .milliseconds(1300))
        #expect(h.core.nextWake == .milliseconds(1300))
        #expect(h.at(1299, .tick).signals.isEmpty)
        #expect(h.at(1300, .tick).signals == [Signalled(pid: 100, signal: SIGKILL)])
        // Once: the deadline is gone even while the rank has not been reaped yet.
        #expect(h.core.kills.next == nil)
        #expect(h.at(1400, .tick).signals.isEmpty)
        #expect(h.at(1401, .rankExited(ref, .signaled(SIGKILL), finalReports: [])).exits == [RankExited(rank: ref, signal: SIGKILL)])
    }

    @Test func aSecondSignalCanOnlyBringTheDeadlineCloser() {
        let h = Harness()
        let ref = rankRef(0)
        h.launch(0, pid: 100)
        h.at(0, controller: .signal(SignalRequest(rank: ref, signal: SIGTERM, graceMilliseconds: 1000)))
        // A later signal with a longer grace delivers the signal but keeps the earlier deadline…
        let later = h.at(100, controller: .signal(SignalRequest(rank: ref, signal: SIGINT, graceMilliseconds: 5000)))
        #expect(later.signals == [Signalled(pid: 100, signal: SIGINT)])
        #expect(h.core.kills.deadline(of: ref) == .milliseconds(1000))
        // …and one with a shorter grace brings it closer.
        h.at(200, controller: .signal(SignalRequest(rank: ref, signal: SIGTERM, graceMilliseconds: 100)))
        #expect(h.core.kills.deadline(of: ref) == .milliseconds(300))
        #expect(h.at(300, .tick).signals == [Signalled(pid: 100, signal: SIGKILL)])
        #expect(h.at(1000, .tick).signals.isEmpty)
    }

    @Test func aRankThatExitsInItsGraceIsNotKilled() {
        let h = Harness()
        let ref = rankRef(0)
        h.launch(0, pid: 100)
        h.at(0, controller: .signal(SignalRequest(rank: ref, signal: SIGTERM, graceMilliseconds: 300)))
        h.at(50, .rankExited(ref, .exited(0), finalReports: []))
        #expect(h.core.kills.next == nil)
        #expect(h.at(300, .tick).signals.isEmpty)
    }

    @Test func withoutARankTheSignalGoesToEveryRank() {
        let h = Harness()
        h.launch(1, pid: 101)
        h.launch(0, pid: 100)
        let actions = h.at(10, controller: .signal(SignalRequest(rank: nil, signal: SIGTERM, graceMilliseconds: 0)))
        #expect(actions.signals == [Signalled(pid: 100, signal: SIGTERM), Signalled(pid: 101, signal: SIGTERM)])
        // Grace 0: SIGKILL at the next tick.
        #expect(h.at(10, .tick).signals == [Signalled(pid: 100, signal: SIGKILL), Signalled(pid: 101, signal: SIGKILL)])
    }

    @Test func sigkillAndSignalsWithoutGraceArmNoDeadline() {
        let h = Harness()
        h.launch(0, pid: 100)
        #expect(h.at(0, controller: .signal(SignalRequest(rank: rankRef(0), signal: SIGKILL, graceMilliseconds: 100))).signals
            == [Signalled(pid: 100, signal: SIGKILL)])
        h.at(0, controller: .signal(SignalRequest(rank: rankRef(0), signal: SIGINT)))
        #expect(h.core.kills.next == nil)
    }

    @Test func aSignalForAnUnknownRankDoesNothing() {
        let h = Harness()
        h.launch(0, pid: 100)
        #expect(h.at(0, controller: .signal(SignalRequest(rank: rankRef(9), signal: SIGTERM, graceMilliseconds: 10))).isEmpty)
        #expect(h.core.kills.next == nil)
    }
}
