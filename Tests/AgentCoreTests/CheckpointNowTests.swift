import AgentCore
import AgentProtocol
import Foundation
import RingmasterModel
import Testing

@Suite struct CheckpointNowTests {
    @Test func aCheckpointNowRequestIsRelayedToItsRankAsOneLine() {
        let h = Harness()
        h.launch(0, pid: 100)
        h.launch(1, pid: 101)
        let actions = h.at(10, controller: .checkpointNow(CheckpointNowRequest(rank: rankRef(1), step: 42)))
        #expect(actions == [.relay(rankRef(1), line: "checkpoint-now 42")])
    }

    @Test func aRequestForARankThatIsGoneIsOnlyLogged() {
        let h = Harness()
        let actions = h.at(10, controller: .checkpointNow(CheckpointNowRequest(rank: rankRef(3), step: 42)))
        #expect(actions == [.log("checkpoint-now for \(rankRef(3)): no such rank here")])
    }

    @Test func theWireMessageIsTypedCheckpointNow() throws {
        let message = ControllerMessage.checkpointNow(CheckpointNowRequest(rank: rankRef(2), step: 7))
        let line = try JSONEncoder().encode(message)
        #expect(String(decoding: line, as: UTF8.self).contains(#""type":"checkpoint-now""#))
        #expect(try AgentWire.decodeControllerMessage(line) == message)
    }
}
