/// The chunk schedule of the ring all-reduce, as one pure value: which segment rank `rank`
/// sends and receives at each step, and where segments and chunks begin and end.
///
/// Layout. The `count` elements are cut into `worldSize` segments whose lengths differ by at
/// most one (the first `count % worldSize` segments get the extra element). Each segment is cut
/// into chunks of `chunkElements` (the last one shorter); an empty segment still has one empty
/// chunk, so every step exchanges at least one frame and a count mismatch is always detected.
///
/// Steps. Let N = worldSize, r = rank, and all segment indices be taken mod N.
/// At step t, rank r sends segment (r − t − 1) to its right neighbour r + 1 and receives
/// segment (r − t − 2) from its left neighbour r − 1. The left neighbour sends, at the same
/// step, its segment ((r − 1) − t − 1) = (r − t − 2): exactly what r expects.
///
/// Iteration count. Segment s is first sent at step 0 by rank s + 1 and travels right one rank
/// per step, each receiver adding its own contribution: it has visited k + 1 ranks after step
/// k − 1. It holds all N contributions after it has visited all N ranks, i.e. after
/// N − 1 steps (steps 0 … N − 2), and at that point it sits on rank (s + 1) + (N − 1) = s: each
/// rank owns its own fully reduced segment (the reduce-scatter result). Each rank then still
/// lacks the other N − 1 reduced segments; every all-gather step delivers one new segment to
/// every rank (the one it sent at the previous step, passed along), so N − 1 more steps
/// (steps N − 1 … 2N − 3) complete it. Total: 2(N − 1) steps, each moving one segment
/// (≈ count / N elements) per rank, i.e. 2(N − 1)/N · count elements sent per rank — the
/// bandwidth-optimal amount. Note send(t + 1) = recv(t): what arrives at step t is forwarded at
/// step t + 1, chunk by chunk, which is what makes the chunks pipeline.
public struct RingSchedule: Sendable, Equatable {
    public let worldSize: Int
    public let rank: Int
    public let count: Int
    public let chunkElements: Int

    public init(worldSize: Int, rank: Int, count: Int, chunkElements: Int) {
        precondition(worldSize >= 1 && rank >= 0 && rank < worldSize && count >= 0 && chunkElements >= 1)
        self.worldSize = worldSize
        self.rank = rank
        self.count = count
        self.chunkElements = chunkElements
    }

    /// Steps of the reduce-scatter phase (0 ..< reduceScatterSteps).
    public var reduceScatterSteps: Int { worldSize - 1 }
    /// All steps (reduce-scatter then all-gather).
    public var totalSteps: Int { 2 * (worldSize - 1) }

    public var left: Int { (rank + worldSize - 1) % worldSize }
    public var right: Int { (rank + 1) % worldSize }

    /// Segment sent to the right at step `t`.
    public func sendSegment(step t: Int) -> Int { Self.mod(rank - t - 1, worldSize) }
    /// Segment received from the left at step `t` (reduced into the buffer during
    /// reduce-scatter, copied during all-gather).
    public func recvSegment(step t: Int) -> Int { Self.mod(rank - t - 2, worldSize) }
    /// Whether step `t` reduces (reduce-scatter) or copies (all-gather) what it receives.
    public func reduces(step t: Int) -> Bool { t < reduceScatterSteps }

    /// Elements of segment `i`: balanced, the first `count % N` segments one longer.
    public func segment(_ i: Int) -> Range<Int> {
        Self.segment(i, of: count, parts: worldSize)
    }

    /// Number of chunks of segment `i` (at least 1).
    public func chunkCount(ofSegment i: Int) -> Int {
        let n = segment(i).count
        return n == 0 ? 1 : (n + chunkElements - 1) / chunkElements
    }

    /// Chunk `j` of segment `i`, in absolute element indices.
    public func chunk(_ j: Int, ofSegment i: Int) -> Range<Int> {
        let seg = segment(i)
        let lo = Swift.min(seg.lowerBound + j * chunkElements, seg.upperBound)
        let hi = Swift.min(lo + chunkElements, seg.upperBound)
        return lo..<hi
    }

    /// Balanced split of `count` into `parts` contiguous ranges.
    public static func segment(_ i: Int, of count: Int, parts: Int) -> Range<Int> {
        let base = count / parts, extra = count % parts
        let lo = i * base + Swift.min(i, extra)
        return lo..<(lo + base + (i < extra ? 1 : 0))
    }

    static func mod(_ a: Int, _ n: Int) -> Int { ((a % n) + n) % n }
}
