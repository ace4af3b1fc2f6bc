import RingmasterModel
import Testing
@testable import Collectives

/// All-reduce against a serial reference: world sizes 1…8 (threads over the in-process fake
/// network), every data type and reduction, counts 0, 1, 7, 1000 and 1_000_003, both
/// algorithms, chunk sizes that do not divide the segments; operations run back to back on one
/// group with changing sizes and types.
@Suite struct AllReduceTests {
    enum Variant: String, CaseIterable, CustomTestStringConvertible {
        case auto, ringTinyChunks, doublingOnly
        var testDescription: String { rawValue }
        var options: GroupOptions {
            var o = GroupOptions()
            o.timeout = .seconds(60)
            switch self {
            case .auto: break
            case .ringTinyChunks: o.smallMessageBytes = 0; o.chunkBytes = 24  // 6 floats, 3 doubles, 12 halves
            case .doublingOnly: o.smallMessageBytes = 1 << 30
            }
            return o
        }
    }

    @Test(arguments: 1...8, Variant.allCases)
    func everyTypeAndOpMatchesTheSerialReference(worldSize n: Int, variant: Variant) async throws {
        let groups = localGroups(n, options: variant.options)
        let results = await onRankThreads(n) { r -> [String] in
            var problems: [String] = []
            for count in [0, 1, 7, 1000] {
                for type in DataType.allCases {
                    for op in ReduceOp.allCases {
                        if let p = try checkAllReduce(type, groups[r], count: count, op: op) { problems.append(p) }
                    }
                }
            }
            return problems
        }
        for result in results { #expect(try result.get() == []) }
    }

    @Test(arguments: [2, 3, 5, 8])
    func largeNonDivisibleCountFloat32Sum(worldSize n: Int) async throws {
        let groups = localGroups(n)
        let expected = reference(Float.self, n: n, count: 1_000_003, op: .sum)
        let results = await onRankThreads(n) { r in
            try checkAllReduce(Float.self, groups[r], count: 1_000_003, op: .sum, expected: expected)
        }
        for result in results { #expect(try result.get() == nil) }
    }

    @Test(arguments: DataType.allCases)
    func largeCountEveryTypeAtThreeRanks(type: DataType) async throws {
        var options = GroupOptions()
        options.chunkBytes = 96 << 10 + 6  // not a multiple of any segment
        let groups = localGroups(3, options: options)
        let results = await onRankThreads(3) { r -> [String] in
            try [ReduceOp.avg].compactMap { op in try checkAllReduce(type, groups[r], count: 1_000_003, op: op) }
        }
        for result in results {
            let problems = try result.get()
            #expect(problems == [])
        }
    }

    @Test func backToBackSizesAcrossTheThresholdGiveIdenticalResultsOnEveryRank() async throws {
        let groups = localGroups(4)
        let results = await onRankThreads(4) { r -> [[Float]] in
            var outputs: [[Float]] = []
            var g = SplitMix64(seed: UInt64(r + 1))
            for count in [3, 70_000, 1, 16_383, 16_385, 0, 250_001, 2] {
                var buffer = (0..<count).map { _ in Float.random(in: -1...1, using: &g) }
                try groups[r].allReduce(&buffer, op: .sum)
                outputs.append(buffer)
            }
            return outputs
        }
        let first = try results[0].get()
        for result in results.dropFirst() { #expect(try result.get() == first) }  // bit-identical everywhere
        #expect(first.map(\.count) == [3, 70_000, 1, 16_383, 16_385, 0, 250_001, 2])
    }
}
