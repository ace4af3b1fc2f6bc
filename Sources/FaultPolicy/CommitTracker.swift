/// Decides when a checkpoint step is committed: once every rank of the attempt has reported
/// `checkpoint N` for it. Pure; the caller writes `COMMITTED` and the store row.
public struct CommitTracker: Hashable, Sendable {
    public let worldSize: Int
    private var reported: [Int: Set<Int>] = [:]
    public private(set) var committed: [Int] = []

    public init(worldSize: Int) { self.worldSize = worldSize }

    /// Records `rank`'s report; returns the step when this report completes it (exactly once per step).
    public mutating func report(rank: Int, step: Int) -> Int? {
        guard !committed.contains(step) else { return nil }
        reported[step, default: []].insert(rank)
        guard reported[step]!.count == worldSize else { return nil }
        reported[step] = nil
        committed.append(step)
        return step
    }

    /// Steps some but not all ranks reported (never resumable).
    public var incomplete: [Int] { reported.keys.sorted() }
}
