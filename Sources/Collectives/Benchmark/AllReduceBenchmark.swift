import Foundation

/// The per-rank side of `ringmaster bench allreduce`: for each size, check the result once,
/// warm up, then time `iterations` all-reduces, each preceded by a barrier so the ranks start
/// together. An iteration's time is the slowest rank's (an all-reduce of the per-iteration
/// times with `max`); the reported time is the median over iterations.
public struct AllReduceBenchmark: Sendable {
    public var sizes: [Int]
    public var dataType: DataType
    public var op: ReduceOp = .sum
    public var warmup: Int = 5
    public var iterations: Int = 20
    public var algorithm: AllReduceAlgorithm?
    /// Called after each timed iteration with (size index, iteration) — progress for tests.
    public var progress: (@Sendable (Int, Int) -> Void)?

    public init(sizes: [Int], dataType: DataType) {
        self.sizes = sizes
        self.dataType = dataType
    }

    /// Runs on every rank; every rank returns the same rows.
    public func run(_ group: ProcessGroup) throws(CollectiveError) -> [BenchmarkResult] {
        var rows: [BenchmarkResult] = []
        for (index, bytes) in sizes.enumerated() {
            let count = max(1, bytes / dataType.size)
            let raw = UnsafeMutableRawPointer.allocate(byteCount: count * dataType.size, alignment: 64)
            defer { raw.deallocate() }
            try verify(group, raw, count: count)
            for _ in 0..<warmup {
                try group.allReduce(raw, count: count, dataType: dataType, op: op, algorithm: algorithm)
            }
            var times = [Double](repeating: 0, count: iterations)
            for i in 0..<iterations {
                try group.barrier()
                let start = Deadline.now()
                try group.allReduce(raw, count: count, dataType: dataType, op: op, algorithm: algorithm)
                times[i] = Double(Deadline.now().nanoseconds - start.nanoseconds) / 1e9
                progress?(index, i)
            }
            try group.allReduce(&times, op: .max)
            rows.append(BenchmarkResult(ranks: group.size, bytes: count * dataType.size, dtype: dataType.description,
                                        seconds: BenchmarkResult.median(times)))
        }
        return rows
    }

    /// Fills with small integers (exact in every type) and checks the sum once.
    private func verify(_ group: ProcessGroup, _ raw: UnsafeMutableRawPointer, count: Int) throws(CollectiveError) {
        let mine = Double(group.rank % 4 + 1)
        var expected = 0.0
        for r in 0..<group.size { expected += Double(r % 4 + 1) }
        TestPattern.fill(raw, count: count, dataType: dataType, value: mine)
        try group.allReduce(raw, count: count, dataType: dataType, op: .sum, algorithm: algorithm)
        if let bad = TestPattern.firstMismatch(raw, count: count, dataType: dataType, value: expected) {
            throw .mismatch("benchmark self-check failed at element \(bad): the all-reduce result is wrong")
        }
        TestPattern.fill(raw, count: count, dataType: dataType, value: 0.5)
    }
}

/// Fills and checks buffers of any data type with one value.
enum TestPattern {
    static func fill(_ raw: UnsafeMutableRawPointer, count: Int, dataType: DataType, value: Double) {
        switch dataType {
        case .float32: raw.initializeMemory(as: Float.self, repeating: Float(value), count: count)
        case .float64: raw.initializeMemory(as: Double.self, repeating: value, count: count)
        case .float16: raw.initializeMemory(as: Float16.self, repeating: Float16(Float(value)), count: count)
        case .bfloat16: raw.initializeMemory(as: UInt16.self, repeating: BFloat16(Float(value)).bitPattern, count: count)
        case .int32: raw.initializeMemory(as: Int32.self, repeating: Int32(value), count: count)
        case .int64: raw.initializeMemory(as: Int64.self, repeating: Int64(value), count: count)
        }
    }

    static func firstMismatch(_ raw: UnsafeMutableRawPointer, count: Int, dataType: DataType, value: Double) -> Int? {
        for i in 0..<count {
            let v: Double = switch dataType {
            case .float32: Double(raw.load(fromByteOffset: i * 4, as: Float.self))
            case .float64: raw.load(fromByteOffset: i * 8, as: Double.self)
            case .float16: Double(Float(raw.load(fromByteOffset: i * 2, as: Float16.self)))
            case .bfloat16: Double(BFloat16(bitPattern: raw.load(fromByteOffset: i * 2, as: UInt16.self)).floatValue)
            case .int32: Double(raw.load(fromByteOffset: i * 4, as: Int32.self))
            case .int64: Double(raw.load(fromByteOffset: i * 8, as: Int64.self))
            }
            if v != value { return i }
        }
        return nil
    }
}
