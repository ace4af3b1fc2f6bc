import RingmasterModel
import AgentProtocol

/// SIGKILL deadlines of ranks that were sent a graceful signal with a grace period. A second graceful signal
/// can only bring a rank's deadline closer, never push it back.
public struct KillSchedule: Hashable, Sendable {
    private var deadlines: [RankRef: Duration] = [:]

    public init() {}

    public mutating func arm(_ rank: RankRef, at deadline: Duration) {
        deadlines[rank] = min(deadlines[rank] ?? deadline, deadline)
    }

    public mutating func cancel(_ rank: RankRef) {
        deadlines[rank] = nil
    }

    /// A rank filed under a new reference keeps its deadline.
    public mutating func rekey(_ rank: RankRef, to new: RankRef) {
        if let d = deadlines.removeValue(forKey: rank) { deadlines[new] = d }
    }

    public func deadline(of rank: RankRef) -> Duration? { deadlines[rank] }

    /// The earliest deadline, if any.
    public var next: Duration? { deadlines.values.min() }

    /// Ranks whose deadline is at or before `now`, in rank order; their deadlines are removed.
    public mutating func takeDue(at now: Duration) -> [RankRef] {
        let due = deadlines.filter { $0.value <= now }.keys.sorted(by: RankRef.inRankOrder)
        for rank in due { deadlines[rank] = nil }
        return due
    }
}

extension RankRef {
    /// Rank number first, then attempt and job: the order the core reports ranks in.
    public static func inRankOrder(_ a: RankRef, _ b: RankRef) -> Bool {
        (a.rank, a.attempt, a.job.rawValue) < (b.rank, b.attempt, b.job.rawValue)
    }
}
