import Testing
@testable import Collectives

@Suite struct RendezvousBookTests {
    func request(_ rank: Int, attempt: Int = 5, token: String = "tok", world: Int = 3) -> JoinRequest {
        JoinRequest(attempt: attempt, token: token, rank: rank, worldSize: world, host: "10.0.0.\(rank)", port: UInt16(9000 + rank))
    }

    @Test func completesWhenEveryRankHasJoined() {
        var book = RendezvousBook(attempt: 5, token: "tok", worldSize: 3)
        #expect(book.admit(request(2)) == .waiting(round: 0))
        #expect(book.admit(request(0)) == .waiting(round: 0))
        #expect(book.outcome(of: 0) == nil)
        #expect(book.admit(request(1)) == .waiting(round: 0))
        guard case .complete(let table)? = book.outcome(of: 0) else { Issue.record("not complete"); return }
        #expect(table.map(\.rank) == [0, 1, 2])
        #expect(table[1].port == 9001)
    }

    @Test func refusesWrongTokenStaleAttemptDuplicatesAndLateJoiners() {
        var book = RendezvousBook(attempt: 5, token: "tok", worldSize: 3)
        guard case .refused(let stale) = book.admit(request(0, attempt: 4)) else { Issue.record(); return }
        #expect(stale.contains("older attempt"))
        guard case .refused(let wrong) = book.admit(request(0, token: "nope")) else { Issue.record(); return }
        #expect(wrong.contains("wrong token"))
        guard case .refused(let size) = book.admit(request(0, world: 4)) else { Issue.record(); return }
        #expect(size.contains("WORLD_SIZE"))
        #expect(book.admit(request(0)) == .waiting(round: 0))
        guard case .refused(let dup) = book.admit(request(0)) else { Issue.record(); return }
        #expect(dup.contains("already joined"))
        _ = book.admit(request(1)); _ = book.admit(request(2))
        guard case .refused(let late) = book.admit(request(1)) else { Issue.record(); return }
        #expect(late.contains("already complete"))
    }

    @Test func expiryFailsEveryoneWithTheMissingRanksAndStartsAFreshRound() {
        var book = RendezvousBook(attempt: 5, token: "tok", worldSize: 4)
        _ = book.admit(request(0, world: 4))
        _ = book.admit(request(2, world: 4))
        book.expire(round: 0)
        #expect(book.outcome(of: 0) == .missing([1, 3]))
        book.expire(round: 0)  // a second waiter of the same round changes nothing
        #expect(book.round == 1)
        #expect(book.admit(request(0, world: 4)) == .waiting(round: 1))
    }
}
