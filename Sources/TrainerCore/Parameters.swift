import RingmasterModel

extension SplitMix64 {
    /// Uniform in [-1, 1).
    public mutating func nextSigned() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
}

/// A named parameter tensor of this rank (a tensor-parallel shard, or the whole tensor), its gradient
/// and its Adam moments.
public final class Parameter {
    public let name: String
    public var value: [Float]
    public var grad: [Float]
    public var m: [Float]
    public var v: [Float]

    init(name: String, value: [Float]) {
        self.name = name
        self.value = value
        self.grad = [Float](repeating: 0, count: value.count)
        self.m = grad
        self.v = grad
    }
}

/// How a full tensor is cut across the tensor group.
enum Shard {
    case replicated
    /// Columns [r·n/t, (r+1)·n/t) of a rows×cols matrix.
    case columns(rows: Int, cols: Int)
    /// Rows [r·n/t, (r+1)·n/t).
    case rows(rows: Int, cols: Int)
}

/// Every parameter of one rank, in a fixed order. Values are generated for the full tensor from
/// (seed, name) and then sliced, so any tensor-parallel layout starts from the same model.
public final class ParameterSet {
    public private(set) var all: [Parameter] = []
    let seed: UInt64
    let tp: Int
    let tpSize: Int

    init(seed: UInt64, tp: Int, tpSize: Int) {
        self.seed = seed
        self.tp = tp
        self.tpSize = tpSize
    }

    /// Adds a parameter initialised uniformly in ±`scale` (or to `constant`).
    func add(_ name: String, count: Int, shard: Shard = .replicated, scale: Float = 0, constant: Float? = nil)
        -> Parameter
    {
        var rng = SplitMix64(seed: seed ^ Self.fnv1a(name))
        let full: [Float] = (0..<count).map { _ in constant ?? rng.nextSigned() * scale }
        let local: [Float]
        switch shard {
        case .replicated:
            local = full
        case .columns(let rows, let cols):
            let c = cols / tpSize
            var columns: [Float] = []
            columns.reserveCapacity(rows * c)
            for r in 0..<rows {
                let start = r * cols + tp * c
                columns.append(contentsOf: full[start..<(start + c)])
            }
            local = columns
        case .rows(let rows, let cols):
            let r = rows / tpSize
            local = Array(full[(tp * r * cols)..<((tp + 1) * r * cols)])
        }
        let p = Parameter(name: name, value: local)
        all.append(p)
        return p
    }

    public func zeroGrad() {
        for p in all { for i in p.grad.indices { p.grad[i] = 0 } }
    }

    /// FNV-1a over every parameter's bit pattern, in order: equal hashes mean bit-identical parameters.
    public func hash() -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for p in all {
            for v in p.value {
                var bits = v.bitPattern
                for _ in 0..<4 {
                    h = (h ^ UInt64(bits & 0xFF)) &* 0x100_0000_01B3
                    bits >>= 8
                }
            }
        }
        return String(h, radix: 16)
    }

    static func fnv1a(_ s: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return h
    }
}
