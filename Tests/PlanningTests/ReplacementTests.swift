import Planning
import RingmasterModel
import Testing

@Suite struct Replacing {
    let placer = Placer(parallelism: Parallelism(data: 2, pipeline: 2, tensor: 2), acceleratorsPerRank: 1)

    @Test func displacedGroupsGoToASpareAndNothingElseMoves() throws {
        let nodes = slots([2, 2, 2, 2, 2], spares: [4])
        let before = try placer.place(on: nodes)
        let after = try placer.replace(before, excluding: ["n1"], nodes: nodes)
        #expect(after.moved == [RankMove(rank: 2, from: "n1", to: "n4"), RankMove(rank: 3, from: "n1", to: "n4")])
        for r in after.placement.ranks where r.rank != 2 && r.rank != 3 {
            #expect(r == before.ranks[r.rank])
        }
        #expect(after.placement.ranks[2].node == "n4")
        #expect(after.placement.ranks[2].localRank == 0)
        #expect(after.placement.ranks[3].devices == [1])
        #expect(after.placement.ranks[2].coordinates == before.ranks[2].coordinates)
    }

    @Test func sparesFirstThenFreeSlotsOnOtherNodes() throws {
        // n0..n3 used, n4 has room for one more group, n5 is a spare with room for one group.
        let nodes = slots([2, 2, 2, 2, 2, 2], spares: [5])
        let before = try placer.place(on: nodes)
        let after = try placer.replace(before, excluding: ["n0", "n1"], nodes: nodes)
        #expect(after.moved.map(\.to.rawValue) == ["n5", "n5", "n4", "n4"])
        #expect(after.placement.ranks.filter { $0.node == "n4" }.map(\.localRank) == [0, 1])
    }

    @Test func freeSlotsOnAPartlyUsedNodeAreTheLowestUnused() throws {
        let nodes = slots([4, 2, 4])
        let before = try placer.place(on: nodes)  // n0: 0-3, n1: 4-5, n2: 6-7
        let after = try placer.replace(before, excluding: ["n1"], nodes: nodes)
        #expect(after.moved.map(\.to.rawValue) == ["n2", "n2"])
        #expect(after.placement.ranks[4].localRank == 2)
        #expect(after.placement.ranks[5].localRank == 3)
        #expect(after.placement.ranks[5].devices == [3])
    }

    @Test func noRoomLeftIsAnError() throws {
        let nodes = slots([2, 2, 2, 2])
        let before = try placer.place(on: nodes)
        #expect(throws: PlacementError.self) { try placer.replace(before, excluding: ["n3"], nodes: nodes) }
    }

    @Test func replacementIsDeterministic() throws {
        let nodes = slots([2, 2, 2, 2, 2, 2], spares: [4, 5])
        let before = try placer.place(on: nodes)
        let a = try placer.replace(before, excluding: ["n0", "n2"], nodes: nodes)
        let b = try placer.replace(before, excluding: ["n2", "n0"], nodes: nodes)
        #expect(a == b)
    }
}
