import Foundation

/// One sample of a job's metric series: what a rank reported (or the runner measured), when, at which step.
public struct SeriesSample: Hashable, Sendable {
    public var time: Date
    public var step: Int?
    public var value: Double

    public init(time: Date, step: Int?, value: Double) {
        self.time = time
        self.step = step
        self.value = value
    }
}

/// One stored point of a series: the mean of `count` consecutive samples, their range, and the newest
/// sample's step and time (so a series' last point is always at its newest step).
public struct SeriesPoint: Codable, Hashable, Sendable {
    public var step: Int?
    public var time: Date
    public var value: Double
    public var min: Double
    public var max: Double
    public var count: Int

    public init(step: Int?, time: Date, value: Double, min: Double, max: Double, count: Int) {
        self.step = step
        self.time = time
        self.value = value
        self.min = min
        self.max = max
        self.count = count
    }

    public init(_ s: SeriesSample) {
        self.init(step: s.step, time: s.time, value: s.value, min: s.value, max: s.value, count: 1)
    }
}

/// How a series stays small however long the job runs, as pure functions (the store applies them).
///
/// A series is a list of points in arrival order and a bucket `width`: a new sample joins the newest
/// point while that point holds fewer than `width` samples, else it starts a new point. When the list
/// grows past `capacity`, adjacent pairs merge and the width doubles — so a series holds between
/// capacity/2 and capacity points, each the mean of about `width` samples, whatever its length: a
/// week-long job reporting every step keeps ~2,048 rows per metric, its newest point never averaged away.
/// Reads downsample further (`downsample(_:to:)`) to the number of points a chart wants.
public enum SeriesDownsampling {
    /// Stored points per series before a compaction halves them.
    public static let capacity = 2048

    /// Means weighted by count; the range of both; the newer step and time (a newer point's step may
    /// be nil: the older one's is kept).
    public static func merge(_ a: SeriesPoint, _ b: SeriesPoint) -> SeriesPoint {
        let count = a.count + b.count
        let mean = (a.value * Double(a.count) + b.value * Double(b.count)) / Double(count)
        return SeriesPoint(step: b.step ?? a.step, time: Swift.max(a.time, b.time), value: mean,
                           min: Swift.min(a.min, b.min), max: Swift.max(a.max, b.max), count: count)
    }

    /// The newest point after `sample` arrives: `last` with the sample merged in (`joined` true) while it
    /// holds fewer than `width` samples, else a point of its own.
    public static func absorb(_ sample: SeriesSample, into last: SeriesPoint?, width: Int) -> (point: SeriesPoint, joined: Bool) {
        if let last, last.count < width { return (merge(last, SeriesPoint(sample)), true) }
        return (SeriesPoint(sample), false)
    }

    /// Adjacent pairs merged (0+1, 2+3, …; an odd last point stays as it is).
    public static func halve(_ points: [SeriesPoint]) -> [SeriesPoint] {
        stride(from: 0, to: points.count, by: 2).map { i in
            i + 1 < points.count ? merge(points[i], points[i + 1]) : points[i]
        }
    }

    /// At most `n` points (n ≥ 1): consecutive runs of ⌈count/n⌉ points merged, the newest run ending at
    /// the newest point. Fewer points than `n` come back unchanged.
    public static func downsample(_ points: [SeriesPoint], to n: Int) -> [SeriesPoint] {
        let n = Swift.max(1, n)
        guard points.count > n else { return points }
        let run = (points.count + n - 1) / n
        // Runs are counted from the newest point backwards, so the oldest run is the short one.
        var out: [SeriesPoint] = []
        var end = points.count
        while end > 0 {
            let start = Swift.max(0, end - run)
            out.append(points[start..<end].dropFirst().reduce(points[start], merge))
            end = start
        }
        return out.reversed()
    }

    /// A whole series rebuilt from its samples (what the store's incremental writes amount to; tests
    /// compare the two).
    public static func build(_ samples: [SeriesSample], capacity: Int = capacity) -> (points: [SeriesPoint], width: Int) {
        var points: [SeriesPoint] = []
        var width = 1
        for s in samples {
            let (p, joined) = absorb(s, into: points.last, width: width)
            if joined { points[points.count - 1] = p } else { points.append(p) }
            if points.count > capacity {
                points = halve(points)
                width *= 2
            }
        }
        return (points, width)
    }
}
