import AgentCore
import AgentProtocol
import RingmasterModel
import Testing

@Suite struct ProtocolErrorTests {
    @Test func malformedInputIsReportedAndStopsTheAgentsRanks() throws {
        let h = Harness()
        h.launch(0, pid: 100)
        let ping = try AgentWire.encodeLine(ControllerMessage.ping(Ping(id: 1)))
        // A good line, a bad one, then another good one in the same read: the ping is answered, the bad line
        // ends the channel, the line after it is never acted on.
        let actions = h.at(10, .controllerBytes(ping + bytes("{\"type\":\"reboot\"}\n") + ping))
        #expect(actions.heartbeats.map(\.ping) == [1])
        let errors = actions.messages.compactMap { if case .error(let e) = $0 { e.message } else { nil } }
        #expect(errors.count == 1)
        #expect(errors[0].hasPrefix("malformed controller message: ") && errors[0].contains("reboot"))
        #expect(actions.contains(.log(errors[0])))
        #expect(actions.contains(.log("protocol violation: stopping 1 rank(s)")))
        #expect(actions.signals == [Signalled(pid: 100, signal: SIGTERM)])
        #expect(!h.core.readsController)
        #expect(h.at(11, .controllerBytes(ping)).isEmpty)
    }

    @Test func anOverlongLineIsAViolationBeforeItEnds() {
        let h = Harness()
        let actions = h.at(0, .controllerBytes(Array(repeating: UInt8(ascii: "a"), count: AgentWire.maxLineBytes + 1)))
        let errors = actions.messages.compactMap { if case .error(let e) = $0 { e.message } else { nil } }
        #expect(errors == [FramingError.lineTooLong(AgentWire.maxLineBytes + 1).description])
        #expect(actions.exitAction == [])
    }

    @Test func messagesSplitAcrossReadsAreActedOnWhenComplete() throws {
        let h = Harness()
        let line = try AgentWire.encodeLine(ControllerMessage.ping(Ping(id: 5)))
        #expect(h.at(0, .controllerBytes(Array(line.prefix(7)))).isEmpty)
        #expect(h.at(1, .controllerBytes(Array(line.dropFirst(7)))).heartbeats.map(\.ping) == [5])
    }
}
