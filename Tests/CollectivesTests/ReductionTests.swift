import RingmasterModel
import Testing
@testable import Collectives

@Suite struct ReductionTests {
    private func run<T: CollectiveElement>(_ op: ReduceOp, _ a: [T], _ b: [T]) -> [T] {
        var d = a
        d.withUnsafeMutableBytes { dst in
            b.withUnsafeBytes { src in
                Reduction.apply(op, T.dataType, into: dst.baseAddress!, from: src.baseAddress!, count: a.count)
            }
        }
        return d
    }

    @Test(arguments: ReduceOp.allCases)
    func float32AndFloat64MatchScalarReference(op: ReduceOp) {
        var g = SplitMix64(seed: 7)
        let a = (0..<1031).map { _ in Float.random(in: -100...100, using: &g) }
        let b = (0..<1031).map { _ in Float.random(in: -100...100, using: &g) }
        let ref: (Float, Float) -> Float = switch op { case .sum, .avg: (+); case .min: { Swift.min($0, $1) }; case .max: { Swift.max($0, $1) } }
        #expect(run(op, a, b) == zip(a, b).map(ref))
        let ad = a.map(Double.init), bd = b.map(Double.init)
        let refd: (Double, Double) -> Double = switch op { case .sum, .avg: (+); case .min: { Swift.min($0, $1) }; case .max: { Swift.max($0, $1) } }
        #expect(run(op, ad, bd) == zip(ad, bd).map(refd))
    }

    @Test(arguments: ReduceOp.allCases)
    func integersMatchScalarReferenceAndWrap(op: ReduceOp) {
        let a: [Int32] = [1, -5, .max, 7, 0]
        let b: [Int32] = [2, 3, 1, -7, 0]
        let expected: [Int32] = switch op {
        case .sum, .avg: [3, -2, .min, 0, 0]
        case .min: [1, -5, 1, -7, 0]
        case .max: [2, 3, .max, 7, 0]
        }
        #expect(run(op, a, b) == expected)
        #expect(run(op, a.map(Int64.init), b.map(Int64.init)).count == 5)
    }

    @Test func float16SumIsRoundedToNearestEvenEachHop() {
        // 2048 + 1 = 2049 lies halfway between the Float16 neighbours 2048 and 2050: ties to even → 2048.
        #expect(run(.sum, [Float16(2048)], [Float16(1)]) == [Float16(2048)])
        #expect(run(.sum, [Float16(2050)], [Float16(1)]) == [Float16(2052)])
        #expect(run(.max, [Float16(-1), Float16(3)], [Float16(2), Float16(1)]) == [Float16(2), Float16(3)])
    }

    @Test func bfloat16ConversionRoundsToNearestEven() {
        #expect(BFloat16(1.0).bitPattern == 0x3F80)
        #expect(BFloat16(1.0 + 0x1p-8).bitPattern == 0x3F80)       // tie → even (down)
        #expect(BFloat16(1.0 + 3 * 0x1p-8).bitPattern == 0x3F82)   // tie → even (up)
        #expect(BFloat16(1.0 + 0x1p-8 + 0x1p-12).bitPattern == 0x3F81)  // above half → up
        #expect(BFloat16(Float.infinity).bitPattern == 0x7F80)
        #expect(BFloat16(Float.greatestFiniteMagnitude).bitPattern == 0x7F80)
        #expect(BFloat16(Float.nan).floatValue.isNaN)
        #expect(BFloat16(-2.5).floatValue == -2.5)
    }

    @Test func bfloat16SumRoundsEachHop() {
        // 256 + 1 = 257 is halfway between BFloat16 neighbours 256 and 258 → 256.
        let r = run(.sum, [BFloat16(256), BFloat16(3)], [BFloat16(1), BFloat16(4)])
        #expect(r.map(\.floatValue) == [256, 7])
        #expect(run(.min, [BFloat16(1), BFloat16(-3)], [BFloat16(2), BFloat16(-4)]).map(\.floatValue) == [1, -4])
    }

    @Test func averageDividesOnceAndTruncatesIntegers() {
        var ints: [Int32] = [7, -7, 8]
        ints.withUnsafeMutableBytes { Reduction.divide(.int32, $0.baseAddress!, count: 3, by: 2) }
        #expect(ints == [3, -3, 4])
        var bf = [BFloat16(3), BFloat16(1)]
        bf.withUnsafeMutableBytes { Reduction.divide(.bfloat16, $0.baseAddress!, count: 2, by: 2) }
        #expect(bf.map(\.floatValue) == [1.5, 0.5])
    }
}
