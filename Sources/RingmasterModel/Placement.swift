/// Where one rank runs and where it sits in the 3-D layout.
public struct RankAssignment: Hashable, Codable, Sendable {
    public var rank: Int
    public var node: NodeID
    /// Index of the rank among the ranks of its node (torchrun's `LOCAL_RANK`).
    public var localRank: Int
    /// Accelerator indices given to the rank (empty for CPU-only ranks).
    public var devices: [Int]
    public var tp: Int
    public var pp: Int
    public var dp: Int

    /// The rank's groups are not stored: they follow from its coordinates and the layout
    /// (`Placement.tensorGroup(of:)`, …). Stored, a data group of 512 made a 4,096-rank placement 2 million numbers
    /// (about 10 MB of JSON in every attempt row). Rows written with them still decode (the keys are ignored).
    public init(
        rank: Int, node: NodeID, localRank: Int, devices: [Int], coordinates: RankCoordinates
    ) {
        self.rank = rank
        self.node = node
        self.localRank = localRank
        self.devices = devices
        self.tp = coordinates.tp
        self.pp = coordinates.pp
        self.dp = coordinates.dp
    }

    public var coordinates: RankCoordinates { RankCoordinates(tp: tp, dp: dp, pp: pp) }
}

/// Every rank of a job mapped to a node, ordered by global rank.
public struct Placement: Hashable, Codable, Sendable {
    public var parallelism: Parallelism
    public var ranks: [RankAssignment]

    public init(parallelism: Parallelism, ranks: [RankAssignment]) {
        self.parallelism = parallelism
        self.ranks = ranks.sorted { $0.rank < $1.rank }
    }

    public var worldSize: Int { ranks.count }

    /// Nodes in use, in the order their first rank appears.
    public var nodes: [NodeID] {
        var seen = Set<NodeID>()
        return ranks.compactMap { seen.insert($0.node).inserted ? $0.node : nil }
    }

    public func ranks(on node: NodeID) -> [RankAssignment] { ranks.filter { $0.node == node } }

    /// Members of `rank`'s tensor, data and pipeline groups, ascending global ranks.
    public func tensorGroup(of rank: Int) -> [Int] { parallelism.tensorGroup(of: rank) }
    public func dataGroup(of rank: Int) -> [Int] { parallelism.dataGroup(of: rank) }
    public func pipelineGroup(of rank: Int) -> [Int] { parallelism.pipelineGroup(of: rank) }

    /// torchrun's `GROUP_RANK` / `NODE_RANK`: position of the node among the nodes in use.
    public func nodeRank(of node: NodeID) -> Int? { nodes.firstIndex(of: node) }
}
