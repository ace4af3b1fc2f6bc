@testable import Collectives

/// Element types with exact small-integer values, so every reduction order gives the same bits
/// and results can be compared exactly with a serial reference.
protocol TestElement: CollectiveElement {
    static func from(_ v: Int) -> Self
    /// The documented `avg`: the (exact) sum converted to the type, divided once by n.
    static func average(sum: Int, n: Int) -> Self
}

extension Float: TestElement {
    static func from(_ v: Int) -> Float { Float(v) }
    static func average(sum: Int, n: Int) -> Float { Float(sum) / Float(n) }
}
extension Double: TestElement {
    static func from(_ v: Int) -> Double { Double(v) }
    static func average(sum: Int, n: Int) -> Double { Double(sum) / Double(n) }
}
extension Float16: TestElement {
    static func from(_ v: Int) -> Float16 { Float16(Float(v)) }
    static func average(sum: Int, n: Int) -> Float16 { Float16(Float(sum) / Float(n)) }
}
extension BFloat16: TestElement {
    static func from(_ v: Int) -> BFloat16 { BFloat16(Float(v)) }
    static func average(sum: Int, n: Int) -> BFloat16 { BFloat16(Float(sum) / Float(n)) }
}
extension Int32: TestElement {
    static func from(_ v: Int) -> Int32 { Int32(v) }
    static func average(sum: Int, n: Int) -> Int32 { Int32(sum / n) }
}
extension Int64: TestElement {
    static func from(_ v: Int) -> Int64 { Int64(v) }
    static func average(sum: Int, n: Int) -> Int64 { Int64(sum / n) }
}

/// Rank r's value at element i: a small signed integer.
func testValue(rank r: Int, index i: Int) -> Int { (i &* 7 &+ r &* 3) % 11 - 5 }

/// Serial reference of an all-reduce over `n` ranks (plain loops: it runs on large counts in debug builds).
func reference<T: TestElement>(_ type: T.Type, n: Int, count: Int, op: ReduceOp) -> [T] {
    var result = [T](repeating: T.from(0), count: count)
    for i in 0..<count {
        var sum = 0, lo = Int.max, hi = Int.min
        for r in 0..<n {
            let v = testValue(rank: r, index: i)
            sum += v
            if v < lo { lo = v }
            if v > hi { hi = v }
        }
        switch op {
        case .sum: result[i] = T.from(sum)
        case .avg: result[i] = T.average(sum: sum, n: n)
        case .min: result[i] = T.from(lo)
        case .max: result[i] = T.from(hi)
        }
    }
    return result
}

/// Runs an all-reduce of `count` elements of T on this rank and describes any difference
/// from `expected` (computed serially when not given).
func checkAllReduce<T: TestElement>(_ type: T.Type, _ group: ProcessGroup, count: Int, op: ReduceOp,
                                    expected given: [T]? = nil) throws -> String? {
    var buffer = [T](repeating: T.from(0), count: count)
    for i in 0..<count { buffer[i] = T.from(testValue(rank: group.rank, index: i)) }
    try group.allReduce(&buffer, op: op)
    let expected = given ?? reference(T.self, n: group.size, count: count, op: op)
    guard buffer != expected else { return nil }
    let i = buffer.indices.first { buffer[$0] != expected[$0] } ?? 0
    return "rank \(group.rank)/\(group.size) \(T.dataType) \(op) count \(count): element \(i) is \(buffer[i]) not \(expected[i])"
}

func checkAllReduce(_ type: DataType, _ group: ProcessGroup, count: Int, op: ReduceOp) throws -> String? {
    switch type {
    case .float32: try checkAllReduce(Float.self, group, count: count, op: op)
    case .float64: try checkAllReduce(Double.self, group, count: count, op: op)
    case .float16: try checkAllReduce(Float16.self, group, count: count, op: op)
    case .bfloat16: try checkAllReduce(BFloat16.self, group, count: count, op: op)
    case .int32: try checkAllReduce(Int32.self, group, count: count, op: op)
    case .int64: try checkAllReduce(Int64.self, group, count: count, op: op)
    }
}
