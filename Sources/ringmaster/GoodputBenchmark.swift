import ControllerAPI
import ControllerHarness
import FaultPolicy
import RingmasterModel
import Foundation
import Planning
import Synchronization
import SystemUtilities

/// `ringmaster bench goodput`: the demo training job under Poisson failures of mixed kinds, on a local
/// controller; effective training time ratio, detection and recovery times, lost steps, phases.
struct GoodputBenchmark: Sendable {
    var minutes: Double
    var meanInterval: Double
    var seed: UInt64
    /// Seconds between samples of the controller's RSS and open file descriptors.
    var sampleEvery: Double = 10
    var progress: @Sendable (String) -> Void

    struct Result: Codable, Sendable {
        var ettr: Double
        var expectedETTR: Double
        var failures: Int
        var steps: Int
        var wallSeconds: Double
        /// Seconds per step while training ran undisturbed in the chaos run itself (attempts that ended
        /// by an instant failure or by finishing, from their first step to their end).
        var failureFreeStepSeconds: Double
        /// The same from the separate failure-free baseline run (it differs by the run-to-run noise).
        var baselineStepSeconds: Double
        var checkpointIntervalSeconds: Double
        var detectionSeconds: [String: Quantiles]
        var recoverySeconds: Quantiles
        var lostSteps: Int
        var phases: [String: Quantiles]
        var injected: [String: Int]
        /// The controller's RSS and open file descriptors from the baseline run's submit to the chaos run's end.
        var controller: ResourceCurve
        var controllerSamples: [ResourceSampler.Sample]
    }

    /// The demo job (tiny model, data 2 × pipeline 2 × tensor 2), checkpointing every 6 steps (≈ 0.7 s: Young/Daly's
    /// √(2·C·MTBF) for a save that stalls training ≈ 10 ms and a failure every 30 s).
    static func manifest(name: String, steps: Int, checkpoints: String) -> String {
        """
        name: \(name)
        command: [ringmaster-train, --preset, tiny, --steps, "\(steps)", --batch, "16", --micro-batches, "2",
                  --checkpoint-every, "6", --log-every, "0"]
        env: {OMP_NUM_THREADS: "1"}
        parallelism: {data: 2, pipeline: 2, tensor: 2}
        checkpoint: {every: 6, keep: 3, dir: \(checkpoints)}
        failure: {maxRestarts: 1000, backoff: 200ms, stallTimeout: auto, quarantineAfter: 1000}
        """
    }

    func run(ringmaster: String) async throws -> Result {
        let controller = try await ControllerProcess.startForBenchmark(
            ringmaster: ringmaster, name: "goodput",
            clusterYAML: "name: goodput\nlocal: {nodes: 4, accelerators: 2}\nheartbeat: {interval: 300ms, missed: 3}\n",
            readyNodes: 4)
        let folder = controller.benchmarkFolder
        do {
            let client = try controller.client()
            let sampler = ResourceSampler(pid: controller.pid, every: sampleEvery)
            var result = try await onDedicatedThread(name: "bench goodput") { try measure(client: client, folder: folder) }
            let samples = sampler.stop()
            (result.controller, result.controllerSamples) = (ResourceCurve(samples), samples)
            await controller.stopBenchmark()
            return result
        } catch {
            await controller.stopBenchmark()
            throw error
        }
    }

    /// The baseline and the chaos run, with blocking API calls: on a dedicated thread.
    private func measure(client: ControllerClient, folder: String) throws -> Result {
        let checkpoints = folder + "/checkpoints"

        // Failure-free step time: the ranks' own ms/step over a short run.
        progress("baseline: 150 failure-free steps")
        let baseline = try client.submitAndFollow(Self.manifest(name: "baseline", steps: 150, checkpoints: checkpoints),
                                           path: folder + "/baseline.yaml")
        let msPerStep = try client.trainerMillisecondsPerStep(job: baseline.id) ?? 0
        guard baseline.state == .succeeded, msPerStep > 0 else {
            throw BenchmarkFailure(description: "the baseline run did not succeed: \(baseline.reason ?? "")")
        }
        let stepSeconds = msPerStep / 1000
        let steps = Int(minutes * 60 / stepSeconds)
        progress(String(format: "failure-free %.1f ms/step; chaos run: %d steps (≈ %.1f min failure-free), a failure every %.0f s on average",
                        msPerStep, steps, Double(steps) * stepSeconds / 60, meanInterval))

        // The chaos run, with a Poisson injector on its own thread.
        let injected = Mutex<[String: Int]>([:])
        let done = Mutex(false)
        let injector = Thread { [self] in
            var rng = SplitMix64(seed: seed)
            let kinds = ChaosRequest.Action.mixable
            while !done.withLock({ $0 }) {
                let deadline = Date().addingTimeInterval(rng.exponential(mean: meanInterval))
                while Date() < deadline, !done.withLock({ $0 }) { Thread.sleep(forTimeInterval: 0.1) }
                if done.withLock({ $0 }) { break }
                let action = kinds[Int(rng.next() % UInt64(kinds.count))]
                guard let jobs = try? client.get("/v1/jobs", as: [JobView].self),
                      let job = jobs.first(where: { $0.name == "goodput" && $0.state == .running }) else { continue }
                if let report = try? Chaos.inject(ChaosRequest(action: action, seed: rng.next()), job: job.id, client: client) {
                    injected.withLock { $0[action.rawValue, default: 0] += 1 }
                    progress("chaos \(report.message)")
                }
            }
        }
        injector.start()
        var events: [EventView] = []
        let start = Date()
        let final = try client.submitAndFollow(Self.manifest(name: "goodput", steps: steps, checkpoints: checkpoints),
                                        path: folder + "/goodput.yaml") { e in
            events.append(e)
            if e.kind == "failure.detected" || e.kind == "recovery.complete" { progress(e.message) }
        }
        let wall = Date().timeIntervalSince(start)
        done.withLock { $0 = true }
        guard final.state == .succeeded else {
            throw BenchmarkFailure(description: "the chaos run ended \(final.state.rawValue): \(final.reason ?? "")")
        }

        func payload(_ e: EventView) -> [String: Any] { e.payloadFields }
        var detection: [String: [Double]] = [:]
        for e in events where e.kind == "failure.detected" {
            let p = payload(e)
            guard let s = (p["detectionSeconds"] as? String).flatMap(Double.init), let kind = p["kind"] as? String else { continue }
            let key = ["rank-exit": "rankExit", "node-lost": "nodeLost", "hang": "hang"][kind] ?? kind
            detection[key, default: []].append(s)
        }
        var phases: [String: [Double]] = [:]
        var recovery: [Double] = []
        var lost = 0
        for e in events where e.kind == "recovery.complete" {
            let p = payload(e)
            if let r = p["recoverySeconds"] as? Double { recovery.append(r) }
            if let l = p["lostSteps"] as? Double { lost += Int(l) }
            for (key, name) in [("teardownSeconds", "teardown"), ("backoffSeconds", "backoff"), ("relaunchSeconds", "relaunch"),
                                ("rendezvousRestoreFirstStepSeconds", "rendezvousRestoreFirstStep")] {
                if let v = p[key] as? Double { phases[name, default: []].append(v) }
            }
        }
        let failures = events.filter { $0.kind == "failure.detected" && payload($0)["refines"] == nil }.count
        // Failure-free step time measured inside the chaos run: each attempt from its first step to an end
        // that stalled nothing (a kill-rank or kill-node, or the job's end). Hangs and stopped agents are
        // left out: their attempts include the seconds before detection with no progress.
        /// The number after `word` in an event's message ("attempt 3 of …", "first step 41 …").
        func number(after word: Substring, in e: EventView) -> Int? {
            let words = e.message.split(separator: " ")
            guard let i = words.firstIndex(of: word), i + 1 < words.count else { return nil }
            return Int(words[i + 1])
        }
        var starts: [Int: (Date, Int)] = [:]
        var busySeconds = 0.0
        var busySteps = 0
        for e in events {
            if e.kind == "attempt.stepping", let n = number(after: "attempt", in: e), let first = number(after: "step", in: e) {
                starts[n] = (e.time, first)
            } else if e.kind == "failure.detected", case let p = payload(e), p["refines"] == nil,
                      let n = number(after: "attempt", in: e), let (t0, s0) = starts[n],
                      let step = (p["step"] as? String).flatMap(Int.init),
                      ["kill-rank", "kill-node"].contains(p["injected"] as? String ?? "") {
                busySeconds += e.time.timeIntervalSince(t0)
                busySteps += step - s0
            } else if let to = e.jobStateTo, to == .succeeded, let last = starts.keys.max(), let (t0, s0) = starts[last] {
                busySeconds += e.time.timeIntervalSince(t0)
                busySteps += steps - s0
            }
        }
        let inRunStep = busySteps > 0 ? busySeconds / Double(busySteps) : stepSeconds
        let interval = 6 * inRunStep
        func mean(_ v: [Double]) -> Double { v.isEmpty ? 0 : v.reduce(0, +) / Double(v.count) }
        // The model's restart time R: detection plus recovery (detection → first step), as measured.
        let meanRecovery = mean(detection.values.flatMap { $0 }) + mean(recovery)
        return Result(
            ettr: Double(steps) * inRunStep / wall,
            expectedETTR: CapacityPlanner.expectedETTR(mtbf: meanInterval, checkpointInterval: interval, restart: meanRecovery),
            failures: failures, steps: steps, wallSeconds: wall, failureFreeStepSeconds: inRunStep,
            baselineStepSeconds: stepSeconds,
            checkpointIntervalSeconds: interval, detectionSeconds: detection.mapValues(Quantiles.init),
            recoverySeconds: Quantiles(recovery), lostSteps: lost, phases: phases.mapValues(Quantiles.init),
            injected: injected.withLock { $0 }, controller: ResourceCurve([]), controllerSamples: [])
    }
}
