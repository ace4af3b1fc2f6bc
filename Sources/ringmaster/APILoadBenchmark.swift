import ControllerAPI
import ControllerHarness
import Foundation
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// `ringmaster bench api-load`: `wrk` against the API's read routes while the demo job trains, beside
/// the same job with no load in the same run (unloaded runs before, between and after the loaded ones,
/// so each loaded run is compared with its two neighbours: the machine's speed drifts between runs).
struct APILoadBenchmark: Sendable {
    /// Training steps of each run.
    var steps: Int
    /// Each loaded run's cap on requests per second per route (0: as fast as the controller answers).
    var rates: [Double]
    /// wrk connections per route.
    var connections: Int
    /// Finished one-rank jobs put in the store first, so that the job and event lists are not empty.
    var history: Int
    var wrk: String
    var script: String
    var progress: @Sendable (String) -> Void

    /// The read routes, `{id}` being the training job's.
    static let routes = ["/v1/jobs", "/v1/jobs/{id}", "/v1/nodes", "/v1/events?limit=100", "/metrics"]

    struct Route: Codable, Sendable {
        var route: String
        var requests: Int
        var requestsPerSecond: Double
        /// Answers outside 200–299.
        var non2xx: Int
        /// Connect, read and write errors and timeouts (10 s).
        var socketErrors: Int
        var p50Ms: Double
        var p90Ms: Double
        var p99Ms: Double
        var maxMs: Double
    }

    struct Run: Codable, Sendable {
        /// nil for an unloaded run; 0 for a load as fast as the controller answers.
        var ratePerRoute: Double?
        var job: String
        /// The slowest rank's own ms/step (its training loop, from its first step to its last).
        var msPerStep: Double
        var wallSeconds: Double
        /// The controller's CPU over the run, in % of one core.
        var controllerCPUPercent: Double
        /// The wrk processes' CPU together over the load, in % of one core.
        var loadCPUPercent: Double
        var routes: [Route]
        /// ms/step ÷ the mean of the unloaded runs before and after (loaded runs only).
        var slowdown: Double?
        /// Failures detected in the job (a step report held up past the stall timeout is a hang).
        var failures: [String]
    }

    struct Result: Codable, Sendable {
        var steps: Int
        var connectionsPerRoute: Int
        var historyJobs: Int
        var runs: [Run]
    }

    /// The demo job's layout (tiny model, data 2 × pipeline 2 × tensor 2), a checkpoint every 25 steps, the
    /// automatic stall timeout (5 × the longest recent step interval): step reports held up by the load
    /// would show as hangs.
    static func manifest(steps: Int, checkpoints: String) -> String {
        """
        name: train
        command: [ringmaster-train, --preset, tiny, --steps, "\(steps)", --batch, "16", --micro-batches, "2",
                  --checkpoint-every, "25", --log-every, "0"]
        env: {OMP_NUM_THREADS: "1"}
        parallelism: {data: 2, pipeline: 2, tensor: 2}
        checkpoint: {every: 25, keep: 3, dir: \(checkpoints)}
        failure: {maxRestarts: 100, stallTimeout: auto}
        """
    }

    func run(ringmaster: String) async throws -> Result {
        let controller = try await ControllerProcess.startForBenchmark(
            ringmaster: ringmaster, name: "api-load", clusterYAML: "name: api-load\nlocal: {nodes: 4, accelerators: 2}\n",
            readyNodes: 4)
        do {
            let result = try await measure(controller)
            await controller.stopBenchmark()
            return result
        } catch {
            await controller.stopBenchmark()
            throw error
        }
    }

    private func measure(_ controller: ControllerProcess) async throws -> Result {
        let folder = controller.benchmarkFolder
        if history > 0 {
            progress("history: \(history) one-rank jobs")
            try await controller.call { client in
                let quick = SubmitRequest(manifest: "name: history\ncommand: [\"true\"]\nparallelism: {data: 1}\n",
                                          path: folder + "/history.yaml")
                var last = ""
                for _ in 0..<history { last = try client.post("/v1/jobs", body: quick, as: JobView.self).id }
                try pollUntil(seconds: Double(history) * 5, "the history jobs to end") {
                    try client.get("/v1/jobs/\(last)", as: JobDetail.self).job.state.isFinal
                }
            }
        }
        // Unloaded, then each load followed by an unloaded run.
        var runs: [Run] = [try await train(controller, rate: nil)]
        for rate in rates {
            runs.append(try await train(controller, rate: rate))
            runs.append(try await train(controller, rate: nil))
        }
        for i in runs.indices where runs[i].ratePerRoute != nil {
            runs[i].slowdown = runs[i].msPerStep / ((runs[i - 1].msPerStep + runs[i + 1].msPerStep) / 2)
        }
        return Result(steps: steps, connectionsPerRoute: connections, historyJobs: history, runs: runs)
    }

    /// One training run; with a rate, a wrk per route from the job's first step to its end.
    private func train(_ controller: ControllerProcess, rate: Double?) async throws -> Run {
        let what = rate.map { $0 > 0 ? String(format: "at most %.0f requests/s per route", $0) : "as fast as it answers" }
        progress("training \(steps) steps" + (what.map { ", the read routes loaded \($0)" } ?? ", no load"))
        let submit = SubmitRequest(manifest: Self.manifest(steps: steps, checkpoints: controller.benchmarkFolder + "/checkpoints"),
                                   path: controller.benchmarkFolder + "/train.yaml")
        let client = try controller.client()
        let job = try await onDedicatedThread(name: "submit") { try client.post("/v1/jobs", body: submit, as: JobView.self) }
        // Load from the first step on.
        _ = try await controller.waitForEvent(job: job.id, within: .seconds(300)) { $0.kind == "attempt.stepping" }
        let loaders = try rate.map { rate in
            try Self.routes.map { route in try startWrk(controller, path: route.replacingOccurrences(of: "{id}", with: job.id), rate: rate) }
        } ?? []
        let (cpu0, t0) = (cpuSeconds(controller.pid), DispatchTime.now())
        let ended = try await controller.waitForJob(job.id, within: .seconds(Double(steps) * 5 + 120))
        let wall = Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9
        let cpu = (cpuSeconds(controller.pid) - cpu0) / wall * 100
        let loadCPU = loaders.map { cpuSeconds($0.pid) }.reduce(0, +) / wall * 100
        var routes: [Route] = []
        for (route, loader) in zip(Self.routes, loaders) {
            loader.signal(SIGINT)
            await loader.exit()
            routes.append(try Self.report(route: route, loader))
        }
        guard ended.state == .succeeded,
              let ms = try await onDedicatedThread(name: "logs", { try client.trainerMillisecondsPerStep(job: job.id) })
        else { throw BenchmarkFailure(description: "training job \(job.id) ended \(ended.state.rawValue): \(ended.reason ?? "")") }
        let failures = try await onDedicatedThread(name: "events") {
            try client.get("/v1/events?job=\(job.id)&limit=10000", as: [EventView].self).filter { $0.kind == "failure.detected" }.map(\.message)
        }
        for f in failures { progress("\(job.id): \(f)") }
        progress(String(format: "%@: %.1f ms/step, controller %.0f%% of a core, wrk %.0f%%", job.id, ms, cpu, loadCPU)
                 + routes.map { String(format: "; %@ %.0f/s p99 %.1f ms", $0.route, $0.requestsPerSecond, $0.p99Ms) }.joined())
        return Run(ratePerRoute: rate, job: job.id, msPerStep: ms, wallSeconds: wall, controllerCPUPercent: cpu, loadCPUPercent: loadCPU,
                   routes: routes, failures: failures)
    }

    /// `wrk` on one route: one thread, `connections` connections, each pausing between its requests so
    /// that the route gets at most `rate` requests a second (none for 0), until SIGINT.
    private func startWrk(_ controller: ControllerProcess, path: String, rate: Double) throws -> ChildProcess {
        let pauseMs = rate > 0 ? Int((Double(connections) * 1000 / rate).rounded()) : 0
        return try ChildProcess([wrk, "-t1", "-c\(connections)", "-d1h", "--timeout", "10s",
                                 "-H", "Authorization: Bearer \(controller.token)", "-s", script,
                                 controller.info.url + path, "--", "\(pauseMs)"])
    }

    /// The JSON line the script printed when wrk stopped.
    static func report(route: String, _ loader: ChildProcess) throws -> Route {
        struct Line: Decodable {
            var requests, durationMicros, non2xx, connectErrors, readErrors, writeErrors, timeouts: Int
            var p50Micros, p90Micros, p99Micros, maxMicros: Double
        }
        guard let text = loader.outputLines.last(where: { $0.hasPrefix("{\"requests\"") }),
              let r = try? JSONDecoder().decode(Line.self, from: Data(text.utf8)) else {
            throw BenchmarkFailure(description: "wrk on \(route) printed no report: \(loader.standardOutput) \(loader.standardError)")
        }
        return Route(route: route, requests: r.requests,
                     requestsPerSecond: r.durationMicros > 0 ? Double(r.requests) / (Double(r.durationMicros) / 1e6) : 0,
                     non2xx: r.non2xx, socketErrors: r.connectErrors + r.readErrors + r.writeErrors + r.timeouts,
                     p50Ms: r.p50Micros / 1000, p90Ms: r.p90Micros / 1000, p99Ms: r.p99Micros / 1000, maxMs: r.maxMicros / 1000)
    }

    /// `scripts/wrk-api-load.lua` of the repository the executable was built in (or of the working directory).
    static func findScript(executable: String) -> String? {
        var dir = URL(fileURLWithPath: executable).deletingLastPathComponent()
        var candidates = [FileManager.default.currentDirectoryPath + "/scripts/wrk-api-load.lua"]
        for _ in 0..<6 {
            candidates.append(dir.appendingPathComponent("scripts/wrk-api-load.lua").path)
            dir = dir.deletingLastPathComponent()
        }
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }
}
