import Planning
import RingmasterModel
import Testing

func slots(_ capacities: [Int], spares: Set<Int> = [], perRank: Int = 1) -> [NodeSlots] {
    capacities.enumerated().map { i, c in
        NodeSlots(id: NodeID("n\(i)"), spare: spares.contains(i), capacity: c,
                  devices: Array(0..<(c * perRank)), reason: "\(c * perRank) accelerators, \(perRank) per rank")
    }
}

@Suite struct RankOrder {
    @Test func coordinatesRoundTripInMegatronOrder() {
        let p = Parallelism(data: 3, pipeline: 2, tensor: 4)
        for rank in 0..<p.worldSize {
            let c = p.coordinates(of: rank)
            #expect(p.rank(c) == rank)
            #expect(rank == c.tp + 4 * (c.dp + 3 * c.pp))
        }
        #expect(p.coordinates(of: 5) == RankCoordinates(tp: 1, dp: 1, pp: 0))
        #expect(p.tensorGroup(of: 5) == [4, 5, 6, 7])
        #expect(p.dataGroup(of: 5) == [1, 5, 9])
        #expect(p.pipelineGroup(of: 5) == [5, 17])
    }
}

@Suite struct Placing {
    @Test func fillsNodesInOrderKeepingTensorGroupsWhole() throws {
        let placer = Placer(parallelism: Parallelism(data: 2, pipeline: 2, tensor: 2), acceleratorsPerRank: 1)
        let placement = try placer.place(on: slots([2, 2, 2, 2]))
        #expect(placement.ranks.map(\.node.rawValue) == ["n0", "n0", "n1", "n1", "n2", "n2", "n3", "n3"])
        #expect(placement.ranks.map(\.localRank) == [0, 1, 0, 1, 0, 1, 0, 1])
        #expect(placement.ranks.map(\.devices) == [[0], [1], [0], [1], [0], [1], [0], [1]])
        let r6 = placement.ranks[6]
        #expect((r6.tp, r6.dp, r6.pp) == (0, 1, 1))
        #expect(placement.tensorGroup(of: 6) == [6, 7])
        #expect(placement.dataGroup(of: 6) == [4, 6])
        #expect(placement.pipelineGroup(of: 6) == [2, 6])
        #expect(placement.nodeRank(of: "n2") == 2)
    }

    @Test func aGroupThatDoesNotFitTheRestOfANodeMovesToTheNext() throws {
        // Node 0 holds 3 ranks: one tensor group of 2 fits, the second would span n0 and n1.
        let placer = Placer(parallelism: Parallelism(data: 2, pipeline: 1, tensor: 2), acceleratorsPerRank: 1)
        let placement = try placer.place(on: slots([3, 4]))
        #expect(placement.ranks.map(\.node.rawValue) == ["n0", "n0", "n1", "n1"])
        #expect(placement.ranks.map(\.localRank) == [0, 1, 0, 1])
    }

    @Test func sparesAreLeftOutAndDevicesComeInBlocks() throws {
        let placer = Placer(parallelism: Parallelism(data: 2, pipeline: 1, tensor: 1), acceleratorsPerRank: 2)
        let placement = try placer.place(on: slots([1, 2], spares: [0], perRank: 2))
        #expect(placement.ranks.map(\.node.rawValue) == ["n1", "n1"])
        #expect(placement.ranks.map(\.devices) == [[0, 1], [2, 3]])
    }

    @Test func tensorGroupWiderThanAnyNodeIsRefused() {
        let placer = Placer(parallelism: Parallelism(data: 1, pipeline: 1, tensor: 4), acceleratorsPerRank: 1)
        #expect(throws: PlacementError(
            kind: .tensorGroupSpansNodes, field: "parallelism.tensor",
            message: "a tensor group of 4 ranks would span nodes: the largest node, n0, holds 2 (2 accelerators, 1 per rank)",
            hint: "lower parallelism.tensor to at most 2, or use nodes with more accelerators")
        ) { try placer.place(on: slots([2, 2, 2, 2])) }
    }

    @Test func worldLargerThanTheInventoryIsRefused() {
        let placer = Placer(parallelism: Parallelism(data: 4, pipeline: 2, tensor: 2), acceleratorsPerRank: 1)
        #expect(throws: PlacementError(
            kind: .insufficientCapacity, field: "parallelism",
            message: "world size 16 (data 4 × pipeline 2 × tensor 2) needs 16 ranks; the 3 non-spare nodes "
                + "(1 spare held back) hold 10 in whole tensor groups",
            hint: "lower parallelism.data or parallelism.pipeline, or add nodes to the inventory")
        ) { try placer.place(on: slots([2, 3, 6, 8], spares: [3])) }
    }

    @Test func nodeCapacityFollowsResources() {
        let node = NodeEntry(id: "g", host: "g", accelerators:
            Accelerator.simulated(count: 3, kind: .nvidia, node: "g") + Accelerator.simulated(count: 2, kind: .amd, node: "g"))
        #expect(NodeSlots(node: node, resources: Resources(acceleratorsPerRank: 2)).capacity == 2)
        #expect(NodeSlots(node: node, resources: Resources(acceleratorsPerRank: 1, ranksPerNode: 3)).capacity == 3)
        let amd = NodeSlots(node: node, resources: Resources(acceleratorsPerRank: 1, acceleratorKind: .amd))
        #expect(amd.capacity == 2)
        #expect(amd.devices == [0, 1])
        #expect(NodeSlots(node: node, resources: Resources(acceleratorsPerRank: 0, ranksPerNode: 6)).capacity == 6)
    }

    @Test func placementIsDeterministic() throws {
        let placer = Placer(parallelism: Parallelism(data: 3, pipeline: 2, tensor: 2), acceleratorsPerRank: 1)
        let a = try placer.place(on: slots([4, 4, 4, 4]))
        let b = try placer.place(on: slots([4, 4, 4, 4]))
        #expect(a == b)
    }
}
