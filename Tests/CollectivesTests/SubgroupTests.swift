import RingmasterModel
import Testing
@testable import Collectives

@Suite struct SubgroupTests {
    @Test func tensorDataAndPipelineGroupsFollowMegatronOrder() async throws {
        let p = Parallelism(data: 2, pipeline: 2, tensor: 2)
        let worlds = localGroups(8)
        let results = await onRankThreads(8) { r -> [Int] in
            let groups = try ParallelGroups(world: worlds[r], parallelism: p)
            // Each group's ring runs its own all-reduce of the world ranks: the sum identifies the members.
            var t = [Int64(r)], d = [Int64(r)], pp = [Int64(r)]
            try groups.tensor.allReduce(&t)
            try groups.data.allReduce(&d)
            try groups.pipeline.allReduce(&pp)
            // Pipeline activations: stage 0 sends to stage 1 of the same (tp, dp).
            var activation = [Float(r)]
            if groups.coordinates.pp == 0 { try groups.pipeline.send(activation, to: 1) } else { try groups.pipeline.recv(&activation, from: 0) }
            return [Int(t[0]), Int(d[0]), Int(pp[0]), Int(activation[0]), groups.tensor.size, groups.data.rank]
        }
        for (r, result) in results.enumerated() {
            let v = try result.get()
            #expect(v[0] == p.tensorGroup(of: r).reduce(0, +))
            #expect(v[1] == p.dataGroup(of: r).reduce(0, +))
            #expect(v[2] == p.pipelineGroup(of: r).reduce(0, +))
            #expect(v[3] == p.pipelineGroup(of: r)[0])
            #expect(v[4] == 2)
            #expect(v[5] == p.coordinates(of: r).dp)
        }
    }

    @Test func subgroupsRunConcurrentlyOnTheirOwnRings() async throws {
        // Two threads per rank: one drives the even/odd split, the other the world, at the same time.
        let worlds = localGroups(4)
        let subs = try await onRankThreads(4) { r in try worlds[r].subgroup(ranks: r % 2 == 0 ? [0, 2] : [1, 3], label: "parity") }
            .map { try $0.get() }
        let results = await onRankThreads(8) { i -> Int in
            let r = i % 4
            var x = [Int32(r + 1)]
            if i < 4 { try worlds[r].allReduce(&x) } else { try subs[r].allReduce(&x) }
            return Int(x[0])
        }
        let values = try results.map { try $0.get() }
        #expect(values[0..<4].allSatisfy { $0 == 10 })
        #expect(values[4..<8] == [4, 6, 4, 6])
    }

    @Test(arguments: [1, 3, 5, 8])
    func splitGroupsByColorOrderedByKey(worldSize n: Int) async throws {
        let worlds = localGroups(n)
        let results = await onRankThreads(n) { r -> [Int] in
            guard let g = try worlds[r].split(color: r % 2 == 0 ? 0 : (r == 1 ? -1 : 1), key: -r) else { return [-1] }
            var x = [Int64(1 << r)]
            try g.allReduce(&x)
            return [g.rank, g.size, Int(x[0])] + g.members
        }
        for (r, result) in results.enumerated() {
            let v = try result.get()
            if r == 1 { #expect(v == [-1]); continue }
            let color = r % 2
            let members = (0..<n).filter { $0 % 2 == color && $0 != 1 }.sorted(by: >)  // key −rank: descending
            #expect(v[0] == members.firstIndex(of: r))
            #expect(v[1] == members.count)
            #expect(v[2] == members.map { 1 << $0 }.reduce(0, +))
            #expect(Array(v[3...]) == members)
        }
    }

    @Test func subgroupRejectsNonMembersAndBadRanks() throws {
        let g = localGroups(3)[0]
        #expect(throws: CollectiveError.self) { try g.subgroup(ranks: [1, 2], label: "x") }
        #expect(throws: CollectiveError.self) { try g.subgroup(ranks: [0, 0], label: "x") }
        #expect(throws: CollectiveError.self) { try g.tensorGroup(Parallelism(data: 2, pipeline: 1, tensor: 2)) }
    }

    @Test func rankEnvironmentParsesAndValidates() throws {
        let env = ["RANK": "5", "WORLD_SIZE": "8", "RINGMASTER_RENDEZVOUS": "10.0.0.1:29400", "RINGMASTER_TOKEN": "s3cret",
                   "RINGMASTER_ATTEMPT": "3", "RINGMASTER_TP_SIZE": "2", "RINGMASTER_DP_SIZE": "2", "RINGMASTER_PP_SIZE": "2",
                   "RINGMASTER_TP_RANK": "1", "RINGMASTER_DP_RANK": "0", "RINGMASTER_PP_RANK": "1"]
        let e = try RankEnvironment.parse(env)
        #expect(e.parallelism == Parallelism(data: 2, pipeline: 2, tensor: 2))
        #expect(e.attempt == 3 && e.rank == 5 && e.token == "s3cret")
        var bad = env
        bad["RINGMASTER_DP_RANK"] = "1"
        #expect(throws: CollectiveError.self) { try RankEnvironment.parse(bad) }
        bad = env
        bad["RINGMASTER_TOKEN"] = nil
        #expect(throws: CollectiveError.self) { try RankEnvironment.parse(bad) }
        #expect(try RankEnvironment.parse(["RANK": "0", "WORLD_SIZE": "2", "RINGMASTER_RENDEZVOUS": "h:1", "RINGMASTER_TOKEN": "t"])
            .parallelism == Parallelism(data: 2))
    }
}
