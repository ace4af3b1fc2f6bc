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

/// A host cut off from its controller by the network: the channel stays open, nothing arrives on it.
@Suite struct ControllerSilenceTests {
    static func configuration(limit: Duration?) -> AgentConfiguration {
        var c = Harness.configuration(heartbeat: .seconds(1), grace: .milliseconds(500))
        c.controllerSilenceLimit = limit
        return c
    }

    @Test func silencePastTheLimitStopsEveryRankAndTheAgentExits() {
        let h = Harness(Self.configuration(limit: .seconds(4)))
        h.launch(0, pid: 100, at: 10)
        h.launch(1, pid: 101, at: 10)
        // The launches were the controller's last word: the limit counts from them.
        #expect(h.core.controllerHeardAt == .milliseconds(10))
        #expect(h.at(4009, .tick).signals.isEmpty)
        let fence = h.at(4010, .tick)
        #expect(fence.contains(.log("nothing from the controller for 4s (limit 4s): stopping 2 rank(s)")))
        #expect(fence.signals == [Signalled(pid: 100, signal: SIGTERM), Signalled(pid: 101, signal: SIGTERM)])
        #expect(h.core.shutdown?.killAt == .milliseconds(4510))
        // SIGKILL at the end of the grace, exit once both are reaped.
        #expect(h.at(4510, .tick).signals == [Signalled(pid: 100, signal: SIGKILL), Signalled(pid: 101, signal: SIGKILL)])
        h.at(4520, .rankExited(rankRef(0), .signaled(SIGKILL), finalReports: []))
        #expect(h.at(4530, .rankExited(rankRef(1), .signaled(SIGKILL), finalReports: [])).exitAction == [])
    }

    @Test func anyControllerBytePushesTheLimitBackAndAPingKeepsTheAgentAlive() {
        let h = Harness(Self.configuration(limit: .seconds(4)))
        h.launch(0, pid: 100)
        #expect(h.core.nextWake == .seconds(1))  // the heartbeat first; the limit at 4 s
        for t in stride(from: 1000, through: 20_000, by: 1000) {
            h.at(t, .tick)
            h.at(t + 1, controller: .ping(Ping(id: UInt64(t))))
        }
        #expect(h.core.shutdown == nil)
        #expect(h.core.controllerHeardAt == .milliseconds(20_001))
        // Half a line counts too: bytes are proof of life, whatever they are.
        h.at(24_000, .controllerBytes(bytes("{\"type\":")))
        #expect(h.at(27_999, .tick).signals.isEmpty)
        #expect(h.at(28_000, .tick).signals == [Signalled(pid: 100, signal: SIGTERM)])
    }

    @Test func withoutALimitSilenceIsWaitedOut() {
        let h = Harness(Self.configuration(limit: nil))
        h.launch(0, pid: 100)
        for t in stride(from: 1000, through: 600_000, by: 1000) { #expect(h.at(t, .tick).signals.isEmpty) }
        #expect(h.core.shutdown == nil)
    }

    @Test func theLimitCountsFromHelloBeforeTheControllerSaysAnything() {
        let h = Harness(Self.configuration(limit: .seconds(4)))
        #expect(h.core.controllerHeardAt == .zero)
        #expect(h.at(4000, .tick).contains(.log("nothing from the controller for 4s (limit 4s): stopping 0 rank(s)")))
        #expect(h.core.nextWake == nil)
    }
}
