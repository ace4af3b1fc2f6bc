/// The 3-D layout of a job: data × pipeline × tensor parallelism.
///
/// Rank order follows Megatron-LM: tensor fastest, then data, then pipeline,
/// `rank = tp + T·(dp + D·pp)`. Consecutive ranks therefore form a tensor group,
/// which placement keeps on one node.
public struct Parallelism: Hashable, Codable, Sendable {
    public var data: Int
    public var pipeline: Int
    public var tensor: Int

    public init(data: Int = 1, pipeline: Int = 1, tensor: Int = 1) {
        self.data = data
        self.pipeline = pipeline
        self.tensor = tensor
    }

    public var worldSize: Int { data * pipeline * tensor }

    /// Global rank of the given coordinates.
    public func rank(_ c: RankCoordinates) -> Int {
        c.tp + tensor * (c.dp + data * c.pp)
    }

    /// Coordinates of a global rank (inverse of `rank(_:)`).
    public func coordinates(of rank: Int) -> RankCoordinates {
        let tp = rank % tensor
        let dp = (rank / tensor) % data
        let pp = rank / (tensor * data)
        return RankCoordinates(tp: tp, dp: dp, pp: pp)
    }

    /// Ranks that share `rank`'s data and pipeline coordinates (its tensor group), ascending.
    public func tensorGroup(of rank: Int) -> [Int] {
        let c = coordinates(of: rank)
        return (0..<tensor).map { self.rank(RankCoordinates(tp: $0, dp: c.dp, pp: c.pp)) }
    }

    /// Ranks that share `rank`'s tensor and pipeline coordinates (its data group), ascending.
    public func dataGroup(of rank: Int) -> [Int] {
        let c = coordinates(of: rank)
        return (0..<data).map { self.rank(RankCoordinates(tp: c.tp, dp: $0, pp: c.pp)) }
    }

    /// Ranks that share `rank`'s tensor and data coordinates (its pipeline stages), ascending.
    public func pipelineGroup(of rank: Int) -> [Int] {
        let c = coordinates(of: rank)
        return (0..<pipeline).map { self.rank(RankCoordinates(tp: c.tp, dp: c.dp, pp: $0)) }
    }
}

/// Position of a rank in the tensor, data and pipeline dimensions.
public struct RankCoordinates: Hashable, Codable, Sendable {
    public var tp: Int
    public var dp: Int
    public var pp: Int

    public init(tp: Int, dp: Int, pp: Int) {
        self.tp = tp
        self.dp = dp
        self.pp = pp
    }
}
