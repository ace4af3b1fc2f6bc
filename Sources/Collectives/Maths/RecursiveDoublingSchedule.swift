/// The small-message all-reduce: recursive doubling, with a fold for world sizes that are not
/// powers of two (MPICH's scheme). Pure: it only says who talks to whom, in which round.
///
/// Let p be the largest power of two ≤ N and e = N − p the "extra" ranks.
/// 1. Fold: each extra rank p + i sends its whole buffer to rank i (i < e), which adds it.
/// 2. Exchange: the p ranks 0 … p − 1 run log2(p) rounds; in round k rank r swaps its whole
///    partial result with r XOR 2^k and both add. After round k each holds the sum over a block
///    of 2^(k+1) ranks, so after log2(p) rounds all p hold the total. Both partners add the same
///    two operands, so every rank ends with identical bits.
/// 3. Unfold: rank i sends the result to rank p + i.
/// Sequential hops: log2(p) (+2 when N is not a power of two), against 2(N − 1) for the ring;
/// but each hop moves the whole buffer, so it only wins below a measured size.
public struct RecursiveDoublingSchedule: Sendable, Equatable {
    public enum Step: Sendable, Equatable {
        /// Send the whole buffer to `peer` (fold: an extra rank hands its data over; its part ends here).
        case sendAll(to: Int)
        /// Receive a whole buffer from `peer` and reduce it into ours.
        case receiveAndReduce(from: Int)
        /// Send ours to `peer` and reduce theirs into ours (one exchange round).
        case exchange(with: Int)
        /// Receive the final result from `peer` (unfold).
        case receiveResult(from: Int)
    }

    public let worldSize: Int
    public let rank: Int

    public init(worldSize: Int, rank: Int) {
        precondition(worldSize >= 1 && rank >= 0 && rank < worldSize)
        self.worldSize = worldSize
        self.rank = rank
    }

    /// Largest power of two ≤ worldSize.
    public var powerOfTwo: Int {
        var p = 1
        while p * 2 <= worldSize { p *= 2 }
        return p
    }

    public var steps: [Step] {
        let p = powerOfTwo, extra = worldSize - p
        if rank >= p { return [.sendAll(to: rank - p), .receiveResult(from: rank - p)] }
        var result: [Step] = []
        if rank < extra { result.append(.receiveAndReduce(from: rank + p)) }
        var mask = 1
        while mask < p {
            result.append(.exchange(with: rank ^ mask))
            mask *= 2
        }
        if rank < extra { result.append(.sendAll(to: rank + p)) }
        return result
    }
}
