import AgentCore
import AgentProtocol
import Foundation
import RingmasterModel
import Testing

/// In-process rejoin on the agent: `abandon` relayed to the rank, `held` forwarded, and `rejoin` files the live
/// rank under the next attempt (its reports, output and exit are that attempt's) before relaying its environment.
@Suite struct AgentRejoinTests {
    @Test func anAbandonIsRelayedAsOneLineWithTheAttemptAndDeadline() {
        let h = Harness()
        h.launch(0, pid: 100)
        let actions = h.at(10, controller: .abandon(AbandonRequest(rank: rankRef(0), deadlineMilliseconds: 10_000)))
        #expect(actions == [.relay(rankRef(0), line: "abandon 1 10000")])
        #expect(h.at(11, controller: .abandon(AbandonRequest(rank: rankRef(5), deadlineMilliseconds: 1)))
            == [.log("abandon for \(rankRef(5)): no such rank here")])
    }

    @Test func aHeldReportReachesTheControllerAndIsNeverDropped() {
        let h = Harness()
        h.launch(0, pid: 100)
        let actions = h.at(10, .rankReport(rankRef(0), datagram: Array("held 42 0123abcd".utf8)))
        #expect(actions == [.send(.held(RankHeld(rank: rankRef(0), step: 42, digest: "0123abcd")))])
        #expect(RankReport(line: "held 42 xyz") == nil)
        #expect(RankReport(line: "held -1 ab") == nil)
        #expect(RankReport(line: "held 3 " + String(repeating: "a", count: 65)) == nil)
    }

    @Test func aRejoinMovesTheRankToTheNewAttemptAndRelaysItsEnvironment() {
        let h = Harness()
        h.launch(1, pid: 101)
        let request = RejoinRequest(rank: rankRef(1), to: rankRef(1, attempt: 2),
                                    env: ["RINGMASTER_ATTEMPT": "2", "MASTER_PORT": "29400"])
        let actions = h.at(10, controller: .rejoin(request))
        #expect(actions == [
            .rekey(rankRef(1), to: rankRef(1, attempt: 2)),
            .send(.started(RankStarted(rank: rankRef(1, attempt: 2), pid: 101))),
            .relay(rankRef(1, attempt: 2), line: "rejoin\nMASTER_PORT=29400\nRINGMASTER_ATTEMPT=2"),
        ])
        // Its reports and its exit are the new attempt's.
        #expect(h.at(11, .rankReport(rankRef(1, attempt: 2), datagram: Array("checkpoint 20".utf8)))
            == [.send(.checkpoint(CheckpointReport(rank: rankRef(1, attempt: 2), step: 20)))])
        let exit = h.at(12, .rankExited(rankRef(1, attempt: 2), .exited(0), finalReports: []))
        #expect(exit.contains(.send(.exited(RankExited(rank: rankRef(1, attempt: 2), status: 0)))))
    }

    @Test func aRankThatIsGoneCannotRejoinAndTheNewAttemptHearsOfIt() {
        let h = Harness()
        let actions = h.at(10, controller: .rejoin(RejoinRequest(rank: rankRef(3), to: rankRef(3, attempt: 2), env: [:])))
        #expect(actions == [.send(.exited(RankExited(rank: rankRef(3, attempt: 2), status: 1,
                                                      error: "rank \(rankRef(3)) is gone: it cannot rejoin")))])
    }

    @Test func theWireMessagesRoundTrip() throws {
        for message in [ControllerMessage.abandon(AbandonRequest(rank: rankRef(2), deadlineMilliseconds: 5)),
                        .rejoin(RejoinRequest(rank: rankRef(2), to: rankRef(2, attempt: 3), env: ["A": "b"]))] {
            let line = try JSONEncoder().encode(message)
            #expect(try AgentWire.decodeControllerMessage(line) == message)
        }
        let held = AgentMessage.held(RankHeld(rank: rankRef(1), step: 9, digest: "ff"))
        #expect(String(decoding: try AgentWire.encodeLine(held), as: UTF8.self).contains(#""type":"held""#))
    }
}
