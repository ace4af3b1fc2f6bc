import ControllerAPI
import ControllerHarness
import Foundation
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// The controller benchmarks' use of the harness: a fresh folder per run holding the cluster file, the
/// state directory (with `controller.log`) and the checkpoints; removed when the controller stops.
extension ControllerProcess {
    /// Writes `clusterYAML` into a fresh folder, starts the controller there (warnings and errors only in
    /// its log) and waits until `readyNodes` nodes are ready.
    static func startForBenchmark(ringmaster: String, name: String, clusterYAML: String, readyNodes: Int) async throws -> ControllerProcess {
        let folder = NSTemporaryDirectory() + "ringmaster-bench-\(name)-\(getpid())"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let cluster = "\(folder)/cluster.yaml"
        try clusterYAML.write(toFile: cluster, atomically: true, encoding: .utf8)
        let controller: ControllerProcess
        do {
            controller = try await start(ringmaster: ringmaster, cluster: cluster, stateDirectory: "\(folder)/state", logLevel: "warning")
        } catch {
            try? FileManager.default.removeItem(atPath: folder)
            throw error
        }
        do {
            try await controller.waitForReadyNodes(readyNodes)
        } catch {
            await controller.stopBenchmark()
            throw error
        }
        return controller
    }

    /// The benchmark's folder: the cluster file, the state directory, room for checkpoints and manifests.
    var benchmarkFolder: String { (stateDirectory as NSString).deletingLastPathComponent }

    /// SIGTERM, wait, remove the benchmark's folder.
    func stopBenchmark() async {
        await stop()
        try? FileManager.default.removeItem(atPath: benchmarkFolder)
    }
}

/// utime + stime of a process, in seconds.
func cpuSeconds(_ pid: pid_t) -> Double {
    guard let fields = POSIX.statFields(pid), fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

extension ControllerClient {
    /// The slowest rank's own `ms/step` of a `ringmaster-train` job that ended (its last log line
    /// `rank R: N steps in S s (X ms/step)`); nil when no rank printed one.
    func trainerMillisecondsPerStep(job: String) throws -> Double? {
        let lines = String(decoding: try call("GET", "/v1/jobs/\(job)/logs?tail=50"), as: UTF8.self)
        return lines.split(separator: "\n").compactMap { line -> Double? in
            guard let open = line.range(of: "s ("), let close = line.range(of: " ms/step)") else { return nil }
            return Double(line[open.upperBound..<close.lowerBound])
        }.max()
    }
}

/// A benchmark that could not finish.
struct BenchmarkFailure: Error, CustomStringConvertible { var description: String }

/// Polls `condition` every 20 ms (a benchmark driver on a dedicated thread, not a test).
func pollUntil(seconds: Double, _ what: String, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return }
        Thread.sleep(forTimeInterval: 0.02)
    }
    throw BenchmarkFailure(description: "timed out waiting for \(what)")
}
