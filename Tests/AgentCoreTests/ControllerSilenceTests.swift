import AgentCore
import AgentProtocol
import Foundation
import RingmasterModel
import Testing

/// `--controller-silence-ms`: nothing from the controller for that long ends the agent like a closed channel.
@Suite struct ControllerSilenceTests {
    static func harness() -> Harness {
        var c = Harness.configuration(heartbeat: .seconds(60))
        c.controllerSilence = .seconds(6)
        return Harness(c)
    }

    @Test func silenceStopsEveryRankAndEveryPingPutsItOff() {
        let h = Self.harness()
        h.launch(0, pid: 100)
        #expect(h.core.nextWake == .seconds(6))
        h.at(4000, controller: .ping(Ping(id: 0)))
        #expect(h.core.nextWake == .seconds(10))
        #expect(h.at(9999, .tick).signals.isEmpty)
        let stop = h.at(10000, .tick)
        #expect(stop.contains(.log("nothing from the controller for 6s: stopping 1 rank(s)")))
        #expect(stop.signals == [Signalled(pid: 100, signal: SIGTERM)])
        #expect(h.core.shutdown != nil)
    }

    @Test func withoutTheOptionSilenceIsHarmless() {
        let h = Harness(Harness.configuration(heartbeat: .seconds(60)))
        h.launch(0, pid: 100)
        #expect(h.at(600_000, .tick).signals.isEmpty && h.core.shutdown == nil)
    }
}
