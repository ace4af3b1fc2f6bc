/// Everything a collective operation, a join or a connection can fail with.
///
/// Once an operation of a group has failed, the group is broken: every later operation
/// rethrows the same error. Recovery is a new attempt (a new rendezvous), as with NCCL.
public enum CollectiveError: Error, Sendable, Equatable, CustomStringConvertible {
    /// An operation did not finish before its deadline (a peer is stopped, hung or too slow).
    case timeout(String)
    /// The process of this rank (global rank) went away: its connection closed or reset.
    case peerLost(rank: Int)
    /// Ranks called different operations, sizes, data types or reductions, or a different number of them.
    case mismatch(String)
    /// A join or a connection was refused (wrong token, stale attempt, duplicate rank, …).
    case refused(String)
    /// The rendezvous deadline passed before every rank arrived.
    case joinTimedOut(missingRanks: [Int], attempt: Int)
    /// The caller passed something that cannot work (a bad rank, an undersized buffer, …).
    case invalidArgument(String)
    /// The group was closed by this process.
    case closed

    public var description: String {
        switch self {
        case .timeout(let what):
            return "timeout: \(what). A peer is stopped, hung or overloaded; check that every rank is alive and making progress, or raise the operation timeout."
        case .peerLost(let rank):
            return "peerLost(\(rank)): the process of rank \(rank) closed its connection (it exited or was killed). The group is unusable; restart the attempt."
        case .mismatch(let what):
            return "mismatch: \(what). Every rank must call the same collective operations, in the same order, with the same element count, data type and reduction."
        case .refused(let why):
            return "refused: \(why)"
        case .joinTimedOut(let missing, let attempt):
            return "join timed out for attempt \(attempt): ranks \(missing) never arrived at the rendezvous. Check that those ranks were launched and can reach the rendezvous address."
        case .invalidArgument(let why):
            return "invalid argument: \(why)"
        case .closed:
            return "the process group was closed by this process"
        }
    }
}
