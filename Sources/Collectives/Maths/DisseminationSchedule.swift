/// The barrier: dissemination (Hensgen, Finkel, Manber). In round k rank r notifies
/// r + 2^k and waits for r − 2^k. After round k, r has (transitively) heard from the 2^(k+1)
/// ranks r − 2^(k+1) + 1 … r, so ⌈log2 N⌉ rounds cover all N ranks. Pure.
public struct DisseminationSchedule: Sendable, Equatable {
    public let worldSize: Int
    public let rank: Int

    public init(worldSize: Int, rank: Int) {
        self.worldSize = worldSize
        self.rank = rank
    }

    /// (send to, receive from) for each round.
    public var rounds: [(to: Int, from: Int)] {
        var result: [(Int, Int)] = []
        var distance = 1
        while distance < worldSize {
            result.append(((rank + distance) % worldSize, (rank - distance % worldSize + worldSize) % worldSize))
            distance *= 2
        }
        return result
    }

    public static func == (a: Self, b: Self) -> Bool { a.worldSize == b.worldSize && a.rank == b.rank }
}
