import AgentProtocol
import ControllerAPI
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A `ringmaster controller` process on a fresh state directory and a local cluster, for benchmarks:
/// started, reached through its API, and stopped.
struct BenchedController {
    let pid: pid_t
    let client: ControllerClient
    let directory: String

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Writes `clusterYAML`, starts the controller with its output in `controller.log`, and waits until the
    /// API answers and `readyNodes` nodes are ready.
    static func start(ringmaster: String, name: String, clusterYAML: String, readyNodes: Int) throws -> BenchedController {
        let dir = NSTemporaryDirectory() + "ringmaster-bench-\(name)-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let cluster = "\(dir)/cluster.yaml"
        try clusterYAML.write(toFile: cluster, atomically: true, encoding: .utf8)
        let log = open("\(dir)/controller.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let pid = try POSIX.spawn(
            [ringmaster, "controller", "--cluster", cluster, "--state-dir", "\(dir)/state", "--listen", "127.0.0.1:0",
             "--log-level", "warning"], stdout: .fd(log), stderr: .fd(log))
        close(log)
        do {
            var client: ControllerClient?
            try waitUntil(seconds: 60, "the controller to serve") {
                guard let data = FileManager.default.contents(atPath: "\(dir)/state/controller.json"),
                      let info = try? APICoding.decoder().decode(ControllerInfo.self, from: data), info.pid == pid,
                      let token = try? String(contentsOfFile: "\(dir)/state/api-token", encoding: .utf8) else { return false }
                client = try ControllerClient(url: info.url, token: token.trimmingCharacters(in: .whitespacesAndNewlines))
                return true
            }
            let c = client!
            try waitUntil(seconds: 60, "\(readyNodes) ready nodes") {
                try c.get("/v1/nodes", as: [NodeView].self).filter { $0.state == .ready }.count >= readyNodes
            }
            return BenchedController(pid: pid, client: c, directory: dir)
        } catch {
            kill(pid, SIGKILL)
            _ = POSIX.wait(pid)
            throw error
        }
    }

    /// SIGTERM, wait, remove the directory.
    func stop() {
        kill(pid, SIGTERM)
        _ = POSIX.wait(pid)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Polls `condition` every 20 ms (a benchmark driver, not a test).
    static func waitUntil(seconds: Double, _ what: String, _ condition: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return }
            Thread.sleep(forTimeInterval: 0.02)
        }
        throw Failure(description: "timed out waiting for \(what)")
    }

    /// Submits a manifest and follows the job's events until it ends; returns the final job.
    func run(_ manifest: String, path: String, onEvent: (EventView) -> Void = { _ in }) throws -> JobView {
        let job = try client.post("/v1/jobs", body: SubmitRequest(manifest: manifest, path: path), as: JobView.self)
        try client.stream("/v1/events?follow=1&job=\(job.id)") { line in
            guard let e = try? APICoding.decoder().decode(EventView.self, from: Data(line.utf8)) else { return true }
            onEvent(e)
            return !(e.jobStateTo?.isFinal ?? false)
        }
        return try client.get("/v1/jobs/\(job.id)", as: JobDetail.self).job
    }
}
