import Foundation
import Synchronization
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// A process's resident memory (`VmRSS` of `/proc/PID/status`) and open file descriptors (the entries of
/// `/proc/PID/fd`), sampled every `interval` seconds on a thread of its own while a benchmark runs.
public final class ResourceSampler: Sendable {
    public struct Sample: Codable, Sendable, Equatable {
        /// Seconds since the sampler started.
        public var seconds: Double
        public var rssKiB: Int
        public var fds: Int
    }

    public let pid: pid_t
    public let interval: Double
    private let start = DispatchTime.now().uptimeNanoseconds
    /// The samples, and whether `stop` was called (after which the thread adds none).
    private let state = Mutex<(samples: [Sample], stopped: Bool)>(([], false))

    /// Starts sampling `pid` at once, then every `interval` seconds.
    public init(pid: pid_t, every interval: Double) {
        self.pid = pid
        self.interval = interval
        runOnDedicatedThread(name: "sample \(pid)") { [self] in
            while true {
                let s = Self.sample(pid, seconds: elapsed)
                guard state.withLock({ state in
                    if !state.stopped, let s { state.samples.append(s) }
                    return !state.stopped
                }) else { return }
                // Short sleeps, so that `stop` never waits on this thread.
                let next = elapsed + interval
                while elapsed < next, !state.withLock({ $0.stopped }) { Thread.sleep(forTimeInterval: min(0.1, next - elapsed)) }
            }
        }
    }

    private var elapsed: Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

    /// Takes a last sample and returns every sample in order; the thread ends within 0.1 s.
    public func stop() -> [Sample] {
        let last = Self.sample(pid, seconds: elapsed)
        return state.withLock { state in
            if !state.stopped, let last { state.samples.append(last) }
            state.stopped = true
            return state.samples
        }
    }

    /// The samples so far.
    public var taken: [Sample] { state.withLock { $0.samples } }

    /// One sample of `pid` now; nil once it has ended.
    public static func sample(_ pid: pid_t, seconds: Double = 0) -> Sample? {
        guard let status = POSIX.readText("/proc/\(pid)/status", limit: 16384),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }),
              let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
        else { return nil }
        return Sample(seconds: seconds, rssKiB: kib, fds: fds)
    }
}

/// A run's resource curve in a few points — start, the quartiles of the run's time, end — with the
/// maxima and the growth: from the start, and from the first quartile (after start-up, when the caches
/// and the allocator's arenas have filled) to the end.
public struct ResourceCurve: Codable, Sendable, Equatable {
    public struct Point: Codable, Sendable, Equatable {
        public var label: String
        public var seconds: Double
        public var rssMiB: Double
        public var fds: Int
    }

    public var points: [Point]
    public var samples: Int
    public var maxRSSMiB: Double
    public var maxFDs: Int
    /// End minus start.
    public var rssGrowthMiB: Double
    /// End minus the first quartile's point.
    public var rssGrowthAfterWarmUpMiB: Double
    /// End minus start.
    public var fdGrowth: Int
    /// Least-squares slope of RSS over the second half of the run, in MiB per hour (0 with fewer than 2 samples there).
    public var rssSlopeMiBPerHour: Double

    public init(_ samples: [ResourceSampler.Sample]) {
        let mib = { (s: ResourceSampler.Sample) in Double(s.rssKiB) / 1024 }
        self.samples = samples.count
        guard let first = samples.first, let last = samples.last else {
            points = []
            maxRSSMiB = 0
            maxFDs = 0
            rssGrowthMiB = 0
            rssGrowthAfterWarmUpMiB = 0
            fdGrowth = 0
            rssSlopeMiBPerHour = 0
            return
        }
        // The sample nearest each quarter of the run's time.
        func at(_ fraction: Double) -> ResourceSampler.Sample {
            let t = first.seconds + (last.seconds - first.seconds) * fraction
            return samples.min { abs($0.seconds - t) < abs($1.seconds - t) }!
        }
        points = [("start", 0.0), ("25%", 0.25), ("50%", 0.5), ("75%", 0.75), ("end", 1.0)].map { label, f in
            let s = at(f)
            return Point(label: label, seconds: s.seconds, rssMiB: mib(s), fds: s.fds)
        }
        maxRSSMiB = samples.map(mib).max()!
        maxFDs = samples.map(\.fds).max()!
        rssGrowthMiB = mib(last) - mib(first)
        rssGrowthAfterWarmUpMiB = mib(last) - mib(at(0.25))
        fdGrowth = last.fds - first.fds
        let half = samples.filter { $0.seconds >= first.seconds + (last.seconds - first.seconds) / 2 }
        if half.count >= 2 {
            let n = Double(half.count)
            let mx = half.map(\.seconds).reduce(0, +) / n
            let my = half.map(mib).reduce(0, +) / n
            let sxx = half.map { ($0.seconds - mx) * ($0.seconds - mx) }.reduce(0, +)
            let sxy = half.map { ($0.seconds - mx) * (mib($0) - my) }.reduce(0, +)
            rssSlopeMiBPerHour = sxx > 0 ? sxy / sxx * 3600 : 0
        } else {
            rssSlopeMiBPerHour = 0
        }
    }
}
