/// Decides when a checkpoint step is committed: once every rank of the attempt has reported
/// `checkpoint N` for it. Pure; the caller writes `COMMITTED` and the store row.
public struct CommitTracker: Hashable, Sendable {
    public let worldSize: Int
    private var reported: [Int: Set<Int>] = [:]
    public private(set) var committed: [Int] = []
    /// Steps a rank could not write: never committed in this attempt.
    public private(set) var failed = Set<Int>()

    public init(worldSize: Int) { self.worldSize = worldSize }

    /// Records `rank`'s report; returns the step when this report completes it (exactly once per step).
    public mutating func report(rank: Int, step: Int) -> Int? {
        guard !committed.contains(step), !failed.contains(step) else { return nil }
        reported[step, default: []].insert(rank)
        guard reported[step]!.count == worldSize else { return nil }
        reported[step] = nil
        committed.append(step)
        return step
    }

    /// Records that `rank` could not write its shard of `step`: the step is never committed (whatever the
    /// other ranks report). Returns true for the step's first failure, false for later ones and for a
    /// step already committed.
    public mutating func fail(rank: Int, step: Int) -> Bool {
        guard !committed.contains(step) else { return false }
        reported[step] = nil
        return failed.insert(step).inserted
    }

    /// Steps some but not all ranks reported, and steps a rank could not write (never resumable).
    public var incomplete: [Int] { Set(reported.keys).union(failed).sorted() }
}
