import Foundation
import RingmasterModel

/// One row of `ringmaster bench allreduce`, with the nccl-tests definitions:
/// algbw = bytes / time, busbw = algbw · 2(N − 1)/N (GB = 10^9 bytes).
public struct BenchmarkResult: Codable, Sendable, Equatable {
    public var ranks: Int
    public var bytes: Int
    public var dtype: String
    public var seconds: Double
    public var algbwGBps: Double
    public var busbwGBps: Double

    public init(ranks: Int, bytes: Int, dtype: String, seconds: Double) {
        self.ranks = ranks
        self.bytes = bytes
        self.dtype = dtype
        self.seconds = seconds
        algbwGBps = seconds > 0 ? Double(bytes) / seconds / 1e9 : 0
        busbwGBps = algbwGBps * 2 * Double(ranks - 1) / Double(max(ranks, 1))
    }

    /// Median of the per-iteration times (each already the slowest rank's).
    public static func median(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return 0 }
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    public static func table(_ rows: [BenchmarkResult]) -> String {
        func pad(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
        var out = [pad("ranks", 5), pad("dtype", 9), pad("bytes", 8), pad("time(us)", 12), pad("algbw(GB/s)", 12),
                   pad("busbw(GB/s)", 12)].joined(separator: " ") + "\n"
        for r in rows {
            out += [pad(String(r.ranks), 5), pad(r.dtype, 9), pad(ByteSize.format(r.bytes), 8),
                    pad((r.seconds * 1e6).fixed(1), 12), pad(r.algbwGBps.fixed(3), 12),
                    pad(r.busbwGBps.fixed(3), 12)].joined(separator: " ") + "\n"
        }
        return out
    }

    public static func json(_ rows: [BenchmarkResult]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: (try? encoder.encode(rows)) ?? Data("[]".utf8), as: UTF8.self)
    }
}
