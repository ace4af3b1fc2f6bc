/// The median and 99th percentile of a benchmark's samples, nearest-rank: the sorted value at
/// index ⌊count · p⌋ (0 when there are none).
struct Quantiles: Codable, Sendable {
    var p50: Double
    var p99: Double
    var count: Int

    init(_ values: [Double]) {
        let s = values.sorted()
        func q(_ p: Double) -> Double { s.isEmpty ? 0 : s[min(s.count - 1, Int((Double(s.count) * p).rounded(.down)))] }
        p50 = q(0.5)
        p99 = q(0.99)
        count = s.count
    }
}
