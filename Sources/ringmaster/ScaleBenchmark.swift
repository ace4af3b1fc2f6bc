import ControllerAPI
import ControllerHarness
import Foundation
import StateStore
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// `ringmaster bench scale`: per size, a real controller process on a simulated inventory (N nodes of A
/// accelerators and one spare, every agent simulated in the controller's process), one job of N × A ranks, and
/// what it costs the controller, measured from outside through its API and /proc.
struct ScaleBenchmark: Sendable {
    var sizes: [Int]
    var accelerators: Int
    var stepSeconds: Double
    var steadySeconds: Double
    var fastSteadySeconds: Double
    var failures: Int
    var heartbeatSeconds: Double
    var missed: Int
    /// The agents' `heartbeat.reportBatch` (0: every step report at once).
    var reportBatchMilliseconds: Int
    var progress: @Sendable (String) -> Void

    struct Percentiles: Codable, Sendable {
        var p50: Double
        var p99: Double
        var count: Int
        init(_ q: Quantiles) { (p50, p99, count) = (q.p50, q.p99, q.count) }
    }

    struct SizeResult: Codable, Sendable {
        var nodes: Int
        var ranks: Int
        var submitToStartedSeconds: Double
        var submitToSteppingSeconds: Double
        /// Controller CPU in % of one core while every rank steps at 1/stepTime (the simulation's threads apart).
        var controllerCPUPercent: Double
        var controllerCPUPercentFast: Double?
        /// The simulated agents' own CPU (threads `sim-shard-N` of the same process), at 1 Hz and at 10 Hz.
        var simulatorCPUPercent: Double
        var simulatorCPUPercentFast: Double?
        var controllerRSSBytes: UInt64
        var storeWritesPerSecond: Double
        var storeBytesPerHour: Double
        var nodeLostDetectionSeconds: Percentiles
        var recoverySeconds: Percentiles
        var apiLatencySeconds: Percentiles
        var apiLatencyByRoute: [String: Percentiles]
        /// The machine's 1-minute load average at the end of the steady window (2 cores here).
        var load1m: Double
        /// Each cost ÷ the first size's.
        var ratioToFirst: [String: Double]
    }

    func run(ringmaster: String) async throws -> [SizeResult] {
        var results: [SizeResult] = []
        for nodes in sizes {
            progress("== \(nodes) nodes × \(accelerators) accelerators = \(nodes * accelerators) ranks")
            var r = try await measure(nodes: nodes, ringmaster: ringmaster)
            if let first = results.first { r.ratioToFirst = Self.ratios(r, first) } else { r.ratioToFirst = Self.ratios(r, r) }
            results.append(r)
        }
        return results
    }

    static func ratios(_ r: SizeResult, _ base: SizeResult) -> [String: Double] {
        func ratio(_ a: Double, _ b: Double) -> Double { b > 0 ? a / b : 0 }
        return [
            "submitToStarted": ratio(r.submitToStartedSeconds, base.submitToStartedSeconds),
            "submitToStepping": ratio(r.submitToSteppingSeconds, base.submitToSteppingSeconds),
            "controllerCPU": ratio(r.controllerCPUPercent, base.controllerCPUPercent),
            "controllerRSS": ratio(Double(r.controllerRSSBytes), Double(base.controllerRSSBytes)),
            "storeWrites": ratio(r.storeWritesPerSecond, base.storeWritesPerSecond),
            "storeGrowth": ratio(r.storeBytesPerHour, base.storeBytesPerHour),
            "detectionP99": ratio(r.nodeLostDetectionSeconds.p99, base.nodeLostDetectionSeconds.p99),
            "recoveryP50": ratio(r.recoverySeconds.p50, base.recoverySeconds.p50),
            "apiP99": ratio(r.apiLatencySeconds.p99, base.apiLatencySeconds.p99),
        ]
    }

    func clusterYAML(nodes: Int) -> String {
        """
        name: scale-\(nodes)
        simulated: {nodes: \(nodes), accelerators: \(accelerators), kind: nvidia, spares: 1, stepTime: \(Int(stepSeconds * 1000))ms, jitter: 2%}
        heartbeat: {interval: \(Int(heartbeatSeconds * 1000))ms, missed: \(missed), reportBatch: \(reportBatchMilliseconds)ms}

        """
    }

    func jobYAML(name: String, nodes: Int, stepMilliseconds: Int, checkpointEvery: Int, dir: String) -> String {
        """
        name: \(name)
        command: [simulated-rank, --step-time, \(stepMilliseconds)ms, --checkpoint-every, "\(checkpointEvery)"]
        parallelism: {data: \(nodes), tensor: \(accelerators)}
        checkpoint: {every: \(checkpointEvery), keep: 2, dir: \(dir)/checkpoints}
        failure: {maxRestarts: \(failures + 10), stallTimeout: 120s, quarantineAfter: 100}

        """
    }

    private func measure(nodes: Int, ringmaster: String) async throws -> SizeResult {
        let controller = try await ControllerProcess.startForBenchmark(
            ringmaster: ringmaster, name: "scale-\(nodes)", clusterYAML: clusterYAML(nodes: nodes), readyNodes: nodes + 1)
        let (pid, dir, state) = (controller.pid, controller.benchmarkFolder, controller.stateDirectory)
        do {
            let client = try controller.client(timeout: 120)
            let result = try await onDedicatedThread(name: "bench scale") {
                try measure(nodes: nodes, pid: pid, client: client, dir: dir, state: state)
            }
            await controller.stopBenchmark()
            return result
        } catch {
            progress("controller log:\n" + String(controller.log.suffix(3000)))
            await controller.stopBenchmark()
            throw error
        }
    }

    /// The measurements, with blocking API calls: on a dedicated thread.
    private func measure(nodes: Int, pid: pid_t, client: ControllerClient, dir: String, state: String) throws -> SizeResult {
        let ranks = nodes * accelerators
        let stepMs = Int(stepSeconds * 1000)
        let every = max(1, Int((5 / stepSeconds).rounded()))
        let manifest = jobYAML(name: "scale", nodes: nodes, stepMilliseconds: stepMs, checkpointEvery: every, dir: dir)

        // Submit → every rank started (its `rank.started` event) → every rank stepping (its first step stored).
        let start = Date()
        let job = try client.post("/v1/jobs", body: SubmitRequest(manifest: manifest, path: "\(dir)/scale.yaml"), as: JobView.self)
        var started = 0
        try client.stream("/v1/events?follow=1&job=\(job.id)") { line in
            if line.contains("\"kind\":\"rank.started\"") { started += 1 }
            return started < ranks
        }
        let startedSeconds = Date().timeIntervalSince(start)
        try waitUntilStepping(client, job: job.id)
        let steppingSeconds = Date().timeIntervalSince(start)
        progress(String(format: "submit → %d ranks started %.2f s, → all stepping %.2f s", ranks, startedSeconds, steppingSeconds))

        // Steady state, with API readers measuring latency meanwhile.
        let api = APIProbe(client: client, job: job.id)
        api.start()
        Thread.sleep(forTimeInterval: min(5, steadySeconds / 2))
        let (s0, w0, b0) = (ProcessSample.take(pid, threadPrefix: "sim-shard"), try storeTransactions(client), storeBytes(state))
        Thread.sleep(forTimeInterval: steadySeconds)
        let (s1, w1, b1) = (ProcessSample.take(pid, threadPrefix: "sim-shard"), try storeTransactions(client), storeBytes(state))
        let window = CPUWindow(s0, s1)
        let writesPerSecond = (w1 - w0) / window.seconds
        let bytesPerHour = Double(Int64(b1) - Int64(b0)) / window.seconds * 3600
        progress(String(format: "steady at %.0f Hz over %.0f s: controller %.1f%% of a core (simulator %.1f%%), RSS %.0f MiB, "
                        + "%.1f store writes/s, store +%.1f MB/h (load %.1f)", 1 / stepSeconds, window.seconds,
                        window.controllerPercent, window.simulatorPercent, Double(s1.rssBytes) / 1_048_576, writesPerSecond,
                        bytesPerHour / 1e6, window.load1m))

        // Lost nodes: stop-agent (only the missing heartbeats tell), detection and recovery onto the spare.
        var detections: [Double] = [], recoveries: [Double] = []
        var after = try client.get("/v1/events?job=\(job.id)&after=0&limit=1", as: [EventView].self).last?.id ?? 0
        after = try lastEventID(client, job: job.id, after: after)
        for i in 0..<failures {
            try waitForFreeNode(client, nodes: nodes)
            let report = try client.post("/v1/jobs/\(job.id)/chaos", body: ChaosRequest(action: .stopAgent, seed: UInt64(i + 1)),
                                         as: ChaosReport.self)
            var detected: Double?, recovered: Double?
            try client.stream("/v1/events?follow=1&job=\(job.id)&after=\(after)") { line in
                guard let e = try? APICoding.decoder().decode(EventView.self, from: Data(line.utf8)) else { return true }
                after = e.id
                let payload = (e.payload?.data(using: .utf8)).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
                if e.kind == "failure.detected", detected == nil {
                    detected = (payload?["detectionSeconds"] as? String).flatMap(Double.init)
                }
                if e.kind == "recovery.complete" { recovered = payload?["recoverySeconds"] as? Double }
                return recovered == nil
            }
            if let detected { detections.append(detected) }
            if let recovered { recoveries.append(recovered) }
            progress(String(format: "failure %d (%@): detected after %.2f s, recovered in %.2f s", i + 1, report.node,
                            detected ?? -1, recovered ?? -1))
            // The next failure after a committed checkpoint, so no restart backoff is in its recovery.
            try waitForCheckpoint(client, job: job.id, after: &after)
        }
        let apiLatency = api.stop()

        // The same cluster at 10× the step rate.
        var fast: CPUWindow?
        if fastSteadySeconds > 0 {
            _ = try client.post("/v1/jobs/\(job.id)/cancel", body: [String: String](), as: JobView.self)
            try waitForFreeNode(client, nodes: nodes, all: true)
            let fastManifest = jobYAML(name: "scale-fast", nodes: nodes, stepMilliseconds: max(1, stepMs / 10), checkpointEvery: every * 10, dir: dir)
            let fastJob = try client.post("/v1/jobs", body: SubmitRequest(manifest: fastManifest, path: "\(dir)/scale-fast.yaml"), as: JobView.self)
            try waitUntilStepping(client, job: fastJob.id)
            Thread.sleep(forTimeInterval: 3)
            let f0 = ProcessSample.take(pid, threadPrefix: "sim-shard")
            Thread.sleep(forTimeInterval: fastSteadySeconds)
            let w = CPUWindow(f0, ProcessSample.take(pid, threadPrefix: "sim-shard"))
            fast = w
            progress(String(format: "steady at %.0f Hz over %.0f s: controller %.1f%% of a core (simulator %.1f%%, load %.1f)",
                            10 / stepSeconds, w.seconds, w.controllerPercent, w.simulatorPercent, w.load1m))
            _ = try? client.post("/v1/jobs/\(fastJob.id)/cancel", body: [String: String](), as: JobView.self)
        }

        return SizeResult(
            nodes: nodes, ranks: ranks, submitToStartedSeconds: startedSeconds, submitToSteppingSeconds: steppingSeconds,
            controllerCPUPercent: window.controllerPercent, controllerCPUPercentFast: fast?.controllerPercent,
            simulatorCPUPercent: window.simulatorPercent, simulatorCPUPercentFast: fast?.simulatorPercent,
            controllerRSSBytes: max(s1.rssBytes, ProcessSample.take(pid, threadPrefix: "sim-shard").rssBytes),
            storeWritesPerSecond: writesPerSecond, storeBytesPerHour: bytesPerHour,
            nodeLostDetectionSeconds: Percentiles(Quantiles(detections)), recoverySeconds: Percentiles(Quantiles(recoveries)),
            apiLatencySeconds: Percentiles(apiLatency.all), apiLatencyByRoute: apiLatency.byRoute.mapValues(Percentiles.init),
            load1m: window.load1m, ratioToFirst: [:])
    }

    /// The newest event of the job (its id), paging through.
    private func lastEventID(_ client: ControllerClient, job: String, after: Int64) throws -> Int64 {
        var last = after
        while let page = try? client.get("/v1/events?job=\(job)&after=\(last)&limit=10000", as: [EventView].self), let id = page.last?.id {
            last = id
            if page.count < 10000 { break }
        }
        return last
    }

    /// Waits until every rank of `job` has stored a step.
    private func waitUntilStepping(_ client: ControllerClient, job: String) throws {
        try pollUntil(seconds: 600, "every rank of \(job) to report a step") {
            try client.get("/v1/jobs/\(job)/ranks", as: [RankView].self).allSatisfy { $0.lastStep != nil }
        }
    }

    /// Waits until a ready node runs nothing (the spare, or the lost node back), or every node is ready and free.
    private func waitForFreeNode(_ client: ControllerClient, nodes: Int, all: Bool = false) throws {
        try pollUntil(seconds: 300, all ? "every node free" : "a free ready node") {
            let views = try client.get("/v1/nodes", as: [NodeView].self)
            let free = views.filter { $0.state == .ready && $0.ranks == 0 }.count
            return all ? free == nodes + 1 : free >= 1
        }
    }

    private func waitForCheckpoint(_ client: ControllerClient, job: String, after: inout Int64) throws {
        var seen = false
        var last = after
        try client.stream("/v1/events?follow=1&job=\(job)&after=\(after)") { line in
            if let e = try? APICoding.decoder().decode(EventView.self, from: Data(line.utf8)) { last = e.id }
            seen = line.contains("\"kind\":\"checkpoint.committed\"")
            return !seen
        }
        after = last
    }

    /// `ringmaster_store_transactions_total` from /metrics.
    private func storeTransactions(_ client: ControllerClient) throws -> Double {
        let text = String(decoding: try client.call("GET", "/metrics"), as: UTF8.self)
        let line = text.split(separator: "\n").first { $0.hasPrefix("ringmaster_store_transactions_total") }
        return line.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) } ?? 0
    }

    /// The bytes the store's rows and indexes take (`StoreFootprint`): the file's size grows in steps as SQLite
    /// checkpoints its WAL, so over a short window it says when the WAL was last copied, not what the store keeps.
    private func storeBytes(_ state: String) -> UInt64 {
        (try? StoreFootprint.usedBytes(atPath: "\(state)/state.db")) ?? 0
    }
}

/// Readers of the API while the benchmark runs: `GET /v1/jobs/{id}`, `/v1/nodes` and `/v1/events?limit=100` in
/// turn, a few a second, each timed.
final class APIProbe: @unchecked Sendable {
    let client: ControllerClient
    let job: String
    private let lock = NSLock()
    private var samples: [String: [Double]] = [:]
    private var stopped = false
    private let done = DispatchSemaphore(value: 0)

    init(client: ControllerClient, job: String) {
        self.client = client
        self.job = job
    }

    func start() {
        runOnDedicatedThread(name: "bench api") { [self] in
            let routes = [("job", "/v1/jobs/\(job)"), ("nodes", "/v1/nodes"), ("events", "/v1/events?limit=100")]
            var i = 0
            while !lock.withLock({ stopped }) {
                let (name, path) = routes[i % routes.count]
                i += 1
                let t0 = DispatchTime.now()
                if (try? client.call("GET", path)) != nil {
                    let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9
                    lock.withLock { samples[name, default: []].append(seconds) }
                }
                Thread.sleep(forTimeInterval: 0.1)
            }
            done.signal()
        }
    }

    func stop() -> (all: Quantiles, byRoute: [String: Quantiles]) {
        lock.withLock { stopped = true }
        done.wait()
        return lock.withLock { (Quantiles(samples.values.flatMap { $0 }), samples.mapValues(Quantiles.init)) }
    }
}
