import Foundation
import SystemUtilities

/// The thread-safe, blocking shell around `RendezvousBook`: joiners wait on a condition
/// variable (no spinning) until their round completes or fails.
final class RendezvousCoordinator: @unchecked Sendable {
    private let condition = PosixCondition()
    private var book: RendezvousBook

    init(attempt: Int, token: String, worldSize: Int) {
        book = RendezvousBook(attempt: attempt, token: token, worldSize: worldSize)
    }

    func join(_ request: JoinRequest, deadline: Deadline) throws(CollectiveError) -> [PeerAddress] {
        condition.lock()
        defer { condition.unlock() }
        let round: Int
        switch book.admit(request) {
        case .refused(let why): throw .refused(why)
        case .waiting(let r): round = r
        }
        condition.broadcast()
        while true {
            switch book.outcome(of: round) {
            case .complete(let table)?: return table
            case .missing(let missing)?: throw .joinTimedOut(missingRanks: missing, attempt: book.attempt)
            case nil: break
            }
            let left = Double(deadline.pollTimeout()) / 1000
            if left <= 0 {
                book.expire(round: round)
                condition.broadcast()
                continue
            }
            condition.wait(seconds: left)
        }
    }
}

/// Rendezvous for ranks that are threads of one process (tests).
public final class InProcessRendezvous: Rendezvous, @unchecked Sendable {
    private let coordinator: RendezvousCoordinator

    public init(attempt: Int, token: String, worldSize: Int) {
        coordinator = RendezvousCoordinator(attempt: attempt, token: token, worldSize: worldSize)
    }

    public func join(_ request: JoinRequest, deadline: Deadline) throws(CollectiveError) -> [PeerAddress] {
        var r = request
        if r.host.isEmpty { r.host = "127.0.0.1" }
        return try coordinator.join(r, deadline: deadline)
    }
}
