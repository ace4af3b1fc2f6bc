import RingmasterModel

/// Places ranks on nodes: Megatron rank order, tensor groups whole on one node, nodes filled in
/// inventory order, spares left out. Pure and deterministic.
public struct Placer: Sendable {
    public var parallelism: Parallelism
    public var acceleratorsPerRank: Int

    public init(parallelism: Parallelism, acceleratorsPerRank: Int) {
        self.parallelism = parallelism
        self.acceleratorsPerRank = acceleratorsPerRank
    }

    public init(job: JobSpec) {
        self.init(parallelism: job.parallelism, acceleratorsPerRank: job.resources.acceleratorsPerRank)
    }

    /// Places every rank on the non-spare `nodes`, in order.
    public func place(on nodes: [NodeSlots]) throws(PlacementError) -> Placement {
        let primary = nodes.filter { !$0.spare }
        try checkFits(primary, spares: nodes.count - primary.count)
        let t = parallelism.tensor
        var assignments: [RankAssignment] = []
        var nodeIndex = 0
        var used = 0
        // Ranks come in tensor groups of t consecutive ranks; a group goes whole to the first node
        // (in inventory order) with t free slots left.
        for group in 0..<(parallelism.worldSize / t) {
            while primary[nodeIndex].capacity - used < t {
                nodeIndex += 1
                used = 0
            }
            let node = primary[nodeIndex]
            for member in 0..<t {
                let rank = group * t + member
                assignments.append(assignment(rank: rank, node: node, localRank: used))
                used += 1
            }
        }
        return Placement(parallelism: parallelism, ranks: assignments)
    }

    func assignment(rank: Int, node: NodeSlots, localRank: Int) -> RankAssignment {
        let k = acceleratorsPerRank
        let devices = k == 0 ? [] : Array(node.devices[(localRank * k)..<((localRank + 1) * k)])
        return RankAssignment(
            rank: rank, node: node.id, localRank: localRank, devices: devices,
            coordinates: parallelism.coordinates(of: rank))
    }

    /// Tensor groups each node can hold whole.
    func groups(_ node: NodeSlots) -> Int { node.capacity / parallelism.tensor }

    private func checkFits(_ primary: [NodeSlots], spares: Int) throws(PlacementError) {
        let t = parallelism.tensor
        let p = parallelism
        let largest = primary.max { $0.capacity < $1.capacity }
        if largest.map({ $0.capacity < t }) ?? true {
            let holds = largest.map { "the largest node, \($0.id), holds \($0.capacity) (\($0.reason))" }
                ?? "there are no non-spare nodes"
            throw PlacementError(
                kind: .tensorGroupSpansNodes, field: "parallelism.tensor",
                message: "a tensor group of \(t) ranks would span nodes: \(holds)",
                hint: (largest?.capacity ?? 0) == 0
                    ? "declare `accelerators: N` on the inventory's nodes, or check resources.acceleratorKind"
                    : "lower parallelism.tensor to at most \(largest!.capacity), or use nodes with more accelerators")
        }
        let available = primary.reduce(0) { $0 + groups($1) * t }
        if available < p.worldSize {
            let spareNote = spares > 0 ? " (\(spares) spare\(spares == 1 ? "" : "s") held back)" : ""
            throw PlacementError(
                kind: .insufficientCapacity, field: "parallelism",
                message: "world size \(p.worldSize) (data \(p.data) × pipeline \(p.pipeline) × tensor \(t)) needs "
                    + "\(p.worldSize) ranks; the \(primary.count) non-spare node\(primary.count == 1 ? "" : "s")"
                    + "\(spareNote) hold \(available) in whole tensor groups",
                hint: "lower parallelism.data or parallelism.pipeline, or add nodes to the inventory")
        }
    }
}
