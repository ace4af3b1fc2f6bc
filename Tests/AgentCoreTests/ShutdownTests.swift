import AgentCore
import AgentProtocol
import RingmasterModel
import Testing

@Suite struct ShutdownTests {
    @Test func closedChannelStopsEveryRankAndExitsOnceAllAreGone() {
        let h = Harness(Harness.configuration(grace: .milliseconds(500)))
        for i in 0..<3 { h.launch(i, pid: 100 + Int32(i)) }
        let begin = h.at(1000, .controllerClosed(reason: "stdin closed"))
        #expect(
            begin == [
                .log("stdin closed: stopping 3 rank(s)"), .signalGroup(pid: 100, signal: SIGTERM),
                .signalGroup(pid: 101, signal: SIGTERM), .signalGroup(pid: 102, signal: SIGTERM),
            ])
        #expect(!h.core.readsController)
        #expect(h.at(1100, .rankExited(rankRef(0), .signaled(SIGTERM), finalReports: [])).exitAction == nil)
        #expect(h.at(1200, .rankExited(rankRef(1), .exited(0), finalReports: [])).exitAction == nil)
        let last = h.at(1300, .rankExited(rankRef(2), .signaled(SIGTERM), finalReports: []))
        // The last exit is reported, then the agent exits: nobody is left to wait for.
        #expect(last.suffix(2) == [.send(.exited(RankExited(rank: rankRef(2), signal: SIGTERM))), .exit(awaiting: [])])
        #expect(h.core.nextWake == nil)
        #expect(h.at(5000, .tick).isEmpty)
    }

    @Test func ranksIgnoringSIGTERMGetSIGKILLAfterTheGraceAndTheExitIsBounded() {
        let h = Harness(Harness.configuration(heartbeat: .seconds(60), grace: .milliseconds(500)))
        h.launch(0, pid: 100)
        h.launch(1, pid: 101)
        h.at(1000, .controllerClosed(reason: "stdin error"))
        #expect(h.core.nextWake == .milliseconds(1500))
        #expect(h.at(1499, .tick).signals.isEmpty)
        let kill = h.at(1500, .tick)
        #expect(kill.signals == [Signalled(pid: 100, signal: SIGKILL), Signalled(pid: 101, signal: SIGKILL)])
        #expect(kill.exitAction == nil)
        h.at(1510, .rankExited(rankRef(0), .signaled(SIGKILL), finalReports: []))
        // Rank 1 is never reaped (stuck in the kernel): two seconds after the SIGKILL the agent goes anyway.
        #expect(h.core.nextWake == .milliseconds(3500))
        #expect(h.at(3499, .tick).exitAction == nil)
        let bound = h.at(3500, .tick)
        #expect(bound == [.signalGroup(pid: 101, signal: SIGKILL), .exit(awaiting: [101])])
    }

    @Test func withNoRanksTheAgentExitsAtOnce() {
        let h = Harness()
        let actions = h.at(10, .controllerClosed(reason: "stdin closed"))
        #expect(actions == [.log("stdin closed: stopping 0 rank(s)"), .exit(awaiting: [])])
    }

    @Test func anUnwritableControllerStopsTheRanksAndNothingMoreIsSent() {
        let h = Harness()
        let ref = rankRef(0)
        h.launch(0, pid: 100)
        let begin = h.at(10, .controllerUnwritable)
        #expect(begin == [.log("stdout closed: stopping 1 rank(s)"), .signalGroup(pid: 100, signal: SIGTERM)])
        h.at(11, .rankReport(ref, datagram: bytes("checkpoint 3")))
        let exit = h.at(20, .rankExited(ref, .signaled(SIGTERM), finalReports: []))
        #expect(exit == [.closeRank(ref), .exit(awaiting: [])])
    }

    @Test func duringShutdownLaunchesAreIgnoredHeartbeatsStopAndPingsAreAnswered() {
        let h = Harness(Harness.configuration(heartbeat: .milliseconds(100), grace: .seconds(10)))
        h.launch(0, pid: 100)
        h.at(10, .stop(reason: "poll failed"))
        #expect(h.core.readsController)  // the channel still works: signals and pings are served
        #expect(h.at(20, controller: .launch(LaunchRequest(rank: rankRef(1), argv: ["train"], logDir: "/l"))).isEmpty)
        #expect(h.at(500, .tick).heartbeats.isEmpty)
        let pong = h.at(600, controller: .ping(Ping(id: 9)))
        #expect(pong.heartbeats.map(\.ping) == [9])
        #expect(h.at(601, controller: .signal(SignalRequest(rank: rankRef(0), signal: SIGKILL))).signals
            == [Signalled(pid: 100, signal: SIGKILL)])
        // A second cause changes nothing: one shutdown, one deadline.
        #expect(h.at(700, .controllerClosed(reason: "stdin closed")).isEmpty)
        #expect(h.core.shutdown?.reason == "poll failed" && h.core.shutdown?.killAt == .milliseconds(10_010))
    }
}
