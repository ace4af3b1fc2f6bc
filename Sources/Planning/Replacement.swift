import RingmasterModel

/// One rank moved off an excluded node.
public struct RankMove: Hashable, Codable, Sendable {
    public var rank: Int
    public var from: NodeID
    public var to: NodeID

    public init(rank: Int, from: NodeID, to: NodeID) {
        self.rank = rank
        self.from = from
        self.to = to
    }
}

/// A new placement after excluding nodes, and which ranks it moved.
public struct Replacement: Hashable, Sendable {
    public var placement: Placement
    public var moved: [RankMove]
}

extension Placer {
    /// Re-places the ranks of `previous` that sat on `excluded` nodes. Every other rank keeps its node,
    /// local rank and devices. Displaced tensor groups go whole to spares first, then to other nodes with
    /// free slots, both in inventory order; each takes the lowest free slots of its new node.
    public func replace(
        _ previous: Placement, excluding excluded: Set<NodeID>, nodes: [NodeSlots]
    ) throws(PlacementError) -> Replacement {
        let t = parallelism.tensor
        let usable = nodes.filter { !excluded.contains($0.id) }
        var taken: [NodeID: Set<Int>] = [:]
        for r in previous.ranks where !excluded.contains(r.node) {
            taken[r.node, default: []].insert(r.localRank)
        }
        let candidates = usable.filter(\.spare) + usable.filter { !$0.spare }

        var ranks = previous.ranks.filter { !excluded.contains($0.node) }
        var moved: [RankMove] = []
        let displaced = previous.ranks.filter { excluded.contains($0.node) }
        // Tensor groups are whole on one node, so displaced ranks come in whole groups.
        let groups = Dictionary(grouping: displaced) { $0.rank / t }.sorted { $0.key < $1.key }
        for (_, members) in groups {
            guard let target = candidates.first(where: { $0.capacity - (taken[$0.id]?.count ?? 0) >= t }) else {
                let stranded = displaced.count - moved.count
                let names = excluded.sorted().map(\.rawValue).joined(separator: ", ")
                throw PlacementError(
                    kind: .insufficientCapacity, field: "parallelism",
                    message: "after excluding \(names), \(stranded) rank\(stranded == 1 ? "" : "s") in tensor groups of "
                        + "\(t) have no node with room",
                    hint: "add spares to the inventory, or allow shrinking with failure.minDataParallel")
            }
            var free = (0..<target.capacity).filter { !(taken[target.id]?.contains($0) ?? false) }
            for member in members.sorted(by: { $0.rank < $1.rank }) {
                let slot = free.removeFirst()
                taken[target.id, default: []].insert(slot)
                ranks.append(assignment(rank: member.rank, node: target, localRank: slot))
                moved.append(RankMove(rank: member.rank, from: member.node, to: target.id))
            }
        }
        return Replacement(placement: Placement(parallelism: parallelism, ranks: ranks), moved: moved)
    }
}
