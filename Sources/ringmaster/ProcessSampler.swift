import Foundation
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// A process's CPU time (all threads, and the threads whose names start with a prefix apart), resident memory
/// and load, read from /proc: what `bench scale` samples of the controller it measures.
struct ProcessSample {
    var at: Date
    var cpuSeconds: Double
    /// CPU of the threads named with the prefix (the simulated cluster's `sim-shard-N`).
    var prefixedCPUSeconds: Double
    var rssBytes: UInt64
    var load1m: Double

    static let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))

    static func take(_ pid: pid_t, threadPrefix: String) -> ProcessSample {
        var prefixed = 0.0
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        for tid in tasks {
            guard let comm = POSIX.readText("/proc/\(pid)/task/\(tid)/comm", limit: 64), comm.hasPrefix(threadPrefix),
                  let stat = POSIX.readText("/proc/\(pid)/task/\(tid)/stat", limit: 4096) else { continue }
            prefixed += cpu(of: stat)
        }
        let status = POSIX.readText("/proc/\(pid)/status", limit: 16384) ?? ""
        let rssKiB = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { UInt64($0) } ?? 0
        let load = POSIX.readText("/proc/loadavg", limit: 256)?.split(separator: " ").first.flatMap { Double($0) } ?? 0
        return ProcessSample(at: Date(), cpuSeconds: POSIX.readText("/proc/\(pid)/stat", limit: 4096).map(cpu) ?? 0,
                             prefixedCPUSeconds: prefixed, rssBytes: rssKiB * 1024, load1m: load)
    }

    /// utime + stime of a stat line, in seconds.
    private static func cpu(of stat: String) -> Double {
        guard let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / ticks
    }
}

/// Between two samples: the controller's CPU as % of one core, without the simulation's threads, and theirs.
struct CPUWindow: Codable, Sendable {
    var seconds: Double
    var controllerPercent: Double
    var simulatorPercent: Double
    var load1m: Double

    init(_ a: ProcessSample, _ b: ProcessSample) {
        seconds = b.at.timeIntervalSince(a.at)
        let total = (b.cpuSeconds - a.cpuSeconds) / max(seconds, 1e-9) * 100
        simulatorPercent = (b.prefixedCPUSeconds - a.prefixedCPUSeconds) / max(seconds, 1e-9) * 100
        controllerPercent = max(0, total - simulatorPercent)
        load1m = b.load1m
    }
}
