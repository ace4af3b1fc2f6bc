/// The rendezvous bookkeeping as a pure state machine: who has joined the current round, and
/// what each join is answered. Rounds: gathering → complete (every rank joined; the table is
/// the answer for all) or → failed (some waiter's deadline passed; everyone waiting is told the
/// missing ranks, and a new round starts empty so the ranks can retry).
package struct RendezvousBook: Sendable {
    package enum Outcome: Sendable, Equatable {
        case complete([PeerAddress])
        case missing([Int])
    }

    package enum Admission: Sendable, Equatable {
        case refused(String)
        /// Joined round `round`; wait for its outcome.
        case waiting(round: Int)
    }

    package let attempt: Int
    package let token: String
    package let worldSize: Int
    package private(set) var round = 0
    package private(set) var members: [Int: PeerAddress] = [:]
    package private(set) var outcomes: [Int: Outcome] = [:]

    package init(attempt: Int, token: String, worldSize: Int) {
        self.attempt = attempt
        self.token = token
        self.worldSize = worldSize
    }

    package var isComplete: Bool {
        if case .complete = outcomes[round] { return true }
        return false
    }

    package mutating func admit(_ r: JoinRequest) -> Admission {
        if r.attempt < attempt {
            return .refused("rank \(r.rank) presented attempt \(r.attempt), but this rendezvous serves attempt \(attempt): it is a straggler of an older attempt and must stop")
        }
        if r.attempt != attempt || !Handshake.constantTimeEqual(r.token, token) {
            return .refused("wrong token for attempt \(attempt) (rank \(r.rank)): the process was not launched for this attempt; check RINGMASTER_TOKEN")
        }
        if r.worldSize != worldSize {
            return .refused("rank \(r.rank) expects a world of \(r.worldSize) ranks, but attempt \(attempt) has \(worldSize): check WORLD_SIZE")
        }
        if r.rank < 0 || r.rank >= worldSize {
            return .refused("rank \(r.rank) is outside 0..<\(worldSize): check RANK")
        }
        if isComplete {
            return .refused("the group of attempt \(attempt) is already complete; rank \(r.rank) joined twice (is a duplicate process running?)")
        }
        if let existing = members[r.rank] {
            return .refused("rank \(r.rank) already joined from \(existing.host):\(existing.port); two processes claim the same RANK")
        }
        members[r.rank] = PeerAddress(rank: r.rank, host: r.host, port: r.port)
        if members.count == worldSize {
            outcomes[round] = .complete((0..<worldSize).map { members[$0]! })
        }
        return .waiting(round: round)
    }

    /// A waiter of `round` reached its deadline: if that round is still gathering it fails for
    /// everyone with the ranks that never arrived, and a new empty round begins.
    package mutating func expire(round r: Int) {
        guard r == round, outcomes[r] == nil else { return }
        let missing = (0..<worldSize).filter { members[$0] == nil }
        outcomes[r] = .missing(missing)
        members = [:]
        round += 1
    }

    package func outcome(of round: Int) -> Outcome? { outcomes[round] }
}
