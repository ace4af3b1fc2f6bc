import ControllerHarness
import Foundation

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
