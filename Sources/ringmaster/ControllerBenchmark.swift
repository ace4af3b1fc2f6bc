import ControllerAPI
import ControllerHarness
import Foundation
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// `ringmaster bench controller`: a real controller process on a local cluster, measured from outside
/// through its API — submit → every rank started, idle CPU, and the event stream.
struct ControllerBenchmark: Sendable {
    var nodes: Int
    var rounds: Int
    var idleSeconds: Double
    var eventJobs: Int
    var progress: @Sendable (String) -> Void

    struct Result: Codable, Sendable {
        var nodes: Int
        var ranks: Int
        /// Submit request sent → the last rank's `rank.started` seen on the event stream, per round.
        var submitToRunningMs: [Double]
        var submitToRunningP50Ms: Double
        var submitToRunningMaxMs: Double
        var idleSeconds: Double
        /// CPU time of the controller process over the idle window, as % of one core.
        var controllerIdleCPUPercent: Double
        /// The same for all its agents together.
        var agentsIdleCPUPercent: Double
        var events: Int
        /// `events -f` from the first event: events received per second while catching up.
        var streamedEventsPerSecond: Double
        /// Event committed → received by a live follower, while `eventJobs` jobs ran.
        var liveDeliveryP50Ms: Double
        var liveDeliveryP99Ms: Double
    }

    func run(ringmaster: String) async throws -> Result {
        let controller = try await ControllerProcess.startForBenchmark(
            ringmaster: ringmaster, name: "controller", clusterYAML: "name: bench\nlocal: {nodes: \(nodes), accelerators: 2}\n",
            readyNodes: nodes)
        let (pid, dir) = (controller.pid, controller.benchmarkFolder)
        do {
            let client = try controller.client()
            let result = try await onDedicatedThread(name: "bench controller") { try measure(pid: pid, client: client, dir: dir) }
            await controller.stopBenchmark()
            return result
        } catch {
            await controller.stopBenchmark()
            throw error
        }
    }

    /// The measurements, with blocking API calls: on a dedicated thread.
    private func measure(pid: pid_t, client: ControllerClient, dir: String) throws -> Result {
        progress("controller pid \(pid) at \(client.url) with \(nodes) ready nodes")

        // Idle CPU: nothing submitted, heartbeats only.
        progress(String(format: "idle for %.0f s", idleSeconds))
        let agents = children(of: pid)
        let (c0, a0) = (cpuSeconds(pid), agents.map(cpuSeconds).reduce(0, +))
        Thread.sleep(forTimeInterval: idleSeconds)
        let (c1, a1) = (cpuSeconds(pid), agents.map(cpuSeconds).reduce(0, +))

        // Submit → all ranks started.
        let ranks = nodes * 2
        let sleeper = SubmitRequest(manifest: "name: bench\ncommand: [sleep, \"600\"]\nparallelism: {data: \(ranks)}\n",
                                    path: "\(dir)/bench.yaml")
        var latencies: [Double] = []
        for round in 1...rounds {
            let start = DispatchTime.now()
            let job = try client.post("/v1/jobs", body: sleeper, as: JobView.self)
            var started = 0
            try client.stream("/v1/events?follow=1&job=\(job.id)") { line in
                if line.contains("\"kind\":\"rank.started\"") { started += 1 }
                return started < ranks
            }
            let ms = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e6
            latencies.append(ms)
            progress(String(format: "round %d: %d ranks started %.1f ms after submit", round, ranks, ms))
            _ = try client.post("/v1/jobs/\(job.id)/cancel", body: [String: String](), as: JobView.self)
        }

        // A live follower while short jobs run, then a follower catching up from the first event.
        let quick = SubmitRequest(manifest: "name: quick\ncommand: [\"true\"]\nparallelism: {data: \(ranks)}\n",
                                  path: "\(dir)/quick.yaml")
        let last = try client.get("/v1/events?after=0&limit=10000", as: [EventView].self).last?.id ?? 0
        let delivery = LiveFollower(client: client, after: last)
        delivery.start()
        var ids: [String] = []
        for _ in 0..<eventJobs { ids.append(try client.post("/v1/jobs", body: quick, as: JobView.self).id) }
        if let final = ids.last {
            try pollUntil(seconds: 300, "the quick jobs to end") {
                try client.get("/v1/jobs/\(final)", as: JobDetail.self).job.state.isFinal
            }
        }
        let live = delivery.stop()
        let total = try client.get("/v1/events?after=0&limit=100000", as: [EventView].self).count
        let t0 = DispatchTime.now()
        var received = 0
        try client.stream("/v1/events?follow=1&after=0") { _ in
            received += 1
            return received < total
        }
        let streamSeconds = Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e9
        let delays = live.delays()
        return Result(
            nodes: nodes, ranks: ranks, submitToRunningMs: latencies, submitToRunningP50Ms: Quantiles(latencies).p50,
            submitToRunningMaxMs: latencies.max() ?? 0, idleSeconds: idleSeconds,
            controllerIdleCPUPercent: (c1 - c0) / idleSeconds * 100, agentsIdleCPUPercent: (a1 - a0) / idleSeconds * 100,
            events: total, streamedEventsPerSecond: Double(total) / streamSeconds,
            liveDeliveryP50Ms: delays.p50, liveDeliveryP99Ms: delays.p99)
    }

    /// Processes whose parent is `pid` (any of its threads), from /proc.
    private func children(of pid: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { candidate in
            guard let fields = POSIX.statFields(candidate), fields.count > 1 else { return false }
            return pid_t(fields[1]) == pid
        }
    }
}

/// Follows the event stream on a thread of its own and records commit → receipt delays.
final class LiveFollower: @unchecked Sendable {
    let client: ControllerClient
    let after: Int64
    private let lock = NSLock()
    private var recorded: [Double] = []
    private var stopped = false
    private var thread: Thread?

    init(client: ControllerClient, after: Int64) {
        self.client = client
        self.after = after
    }

    func start() {
        let thread = Thread { [self] in
            try? client.stream("/v1/events?follow=1&after=\(after)") { line in
                let now = Date()
                if let e = try? APICoding.decoder().decode(EventView.self, from: Data(line.utf8)) {
                    lock.withLock { recorded.append(now.timeIntervalSince(e.time) * 1000) }
                }
                return !lock.withLock { stopped }
            }
        }
        self.thread = thread
        thread.start()
    }

    /// Stops recording (the thread ends with the next event or the controller's exit).
    func stop() -> LiveFollower {
        lock.withLock { stopped = true }
        return self
    }

    /// The delays recorded so far, in milliseconds.
    func delays() -> Quantiles { Quantiles(lock.withLock { recorded }) }
}
