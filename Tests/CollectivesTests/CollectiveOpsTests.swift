import Testing
@testable import Collectives

@Suite struct CollectiveOpsTests {
    static func options() -> GroupOptions {
        var o = GroupOptions()
        o.chunkBytes = 40
        o.timeout = .seconds(60)
        return o
    }

    @Test(arguments: 1...8)
    func reduceScatterLeavesEachRankItsReducedSegment(worldSize n: Int) async throws {
        let groups = localGroups(n, options: Self.options())
        let results = await onRankThreads(n) { r -> Bool in
            var ok = true
            for count in [0, 1, 7, 1000] {
                var buffer = (0..<count).map { Int64(testValue(rank: r, index: $0)) }
                let range = try groups[r].reduceScatter(&buffer, op: .sum)
                ok = ok && range == RingSchedule.segment(r, of: count, parts: n)
                let expected = reference(Int64.self, n: n, count: count, op: .sum)
                ok = ok && Array(buffer[range]) == Array(expected[range])
            }
            return ok
        }
        for result in results { #expect(try result.get()) }
    }

    @Test(arguments: 1...8)
    func allGatherCollectsEverySegment(worldSize n: Int) async throws {
        let groups = localGroups(n, options: Self.options())
        let results = await onRankThreads(n) { r -> Bool in
            var ok = true
            for count in [0, 1, 7, 1000] {
                let mine = groups[r].segment(of: r, count: count)
                var buffer = [Float](repeating: -1, count: count)
                for i in mine { buffer[i] = Float(i) }
                try groups[r].allGather(&buffer)
                ok = ok && buffer == (0..<count).map(Float.init)
            }
            let all = try groups[r].allGather([Int32(r), Int32(10 * r)])
            return ok && all == (0..<n).flatMap { [Int32($0), Int32(10 * $0)] }
        }
        for result in results { #expect(try result.get()) }
    }

    @Test(arguments: 1...8)
    func broadcastFromEveryRoot(worldSize n: Int) async throws {
        let groups = localGroups(n, options: Self.options())
        let results = await onRankThreads(n) { r -> Bool in
            var ok = true
            for root in 0..<n {
                for count in [0, 1, 7, 1000] {
                    var buffer = (0..<count).map { r == root ? Double($0 * 3 + root) : -1 }
                    try groups[r].broadcast(&buffer, root: root)
                    ok = ok && buffer == (0..<count).map { Double($0 * 3 + root) }
                }
            }
            return ok
        }
        for result in results { #expect(try result.get()) }
    }

    @Test(arguments: [2, 3, 5])
    func sendAndReceiveAlongAPipeline(worldSize n: Int) async throws {
        let groups = localGroups(n, options: Self.options())
        let results = await onRankThreads(n) { r -> [Float] in
            // Stage r receives activations from r − 1, adds its rank, passes them to r + 1.
            var activations = [Float](repeating: 0, count: 1001)
            if r > 0 { try groups[r].recv(&activations, from: r - 1) }
            for i in activations.indices { activations[i] += Float(r) }
            if r < n - 1 { try groups[r].send(activations, to: r + 1) }
            // Back-to-back point-to-point messages of different sizes keep their order.
            if r == 0 { try groups[r].send([Int32(1)], to: n - 1); try groups[r].send([Int32](repeating: 2, count: 9), to: n - 1) }
            if r == n - 1 {
                var a = [Int32(0)], b = [Int32](repeating: 0, count: 9)
                try groups[r].recv(&a, from: 0)
                try groups[r].recv(&b, from: 0)
                if a != [1] || b != [Int32](repeating: 2, count: 9) { return [] }
            }
            return activations
        }
        let last = try results[n - 1].get()
        #expect(last == [Float](repeating: Float((0..<n).reduce(0, +)), count: 1001))
    }

    @Test(arguments: 1...8)
    func barrierCompletesOnEveryRank(worldSize n: Int) async throws {
        let groups = localGroups(n)
        let results = await onRankThreads(n) { r in
            for _ in 0..<5 { try groups[r].barrier() }
            return true
        }
        for result in results { #expect(try result.get()) }
    }

    @Test func worldOfOneIsANoOp() throws {
        let group = localGroups(1)[0]
        var buffer: [Float] = [1, 2, 3]
        try group.allReduce(&buffer, op: .avg)
        try group.broadcast(&buffer, root: 0)
        try group.barrier()
        #expect(buffer == [1, 2, 3])
    }
}
