import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import Synchronization
import SystemUtilities

/// `ringmaster bench goodput --workload torch`: the PyTorch job of `Manifests/jobs/scripts/torch_resilient.py`
/// (4-rank DDP, gradients over the ring hook, async checkpoints every 10 steps) under the same seeded Poisson
/// schedule of kill-rank, kill-node and hang-rank, with cold restarts, with warm interpreters
/// (`warm: {preload: [ringmaster.torch.warm], spares: 2}`) and with in-process rejoin besides (`warm.rejoin`),
/// side by side: per failure kind the time from the
/// failure to the job's first step after it (detection + recovery; the last step before a kill is at most one
/// step time earlier), lost steps, and ETTR: 1 − (the failures' gaps + lost steps × the undisturbed step time) ÷
/// the time from the job's first step to its end — the training time the failures cost, which does not drift
/// with the machine's speed between the baseline and the run — beside the cruder steps × the baseline's step time
/// ÷ the wall from the submit (the first start and the warm pools filling count against it, and a run that steps
/// faster than the baseline reads above 1). The schedule starts once the job steps
/// and, warm, every node (2 of the attempt, 2 spares) holds 2 ready interpreters.
enum TorchRecovery: String, Codable, Sendable, CaseIterable {
    /// Every rank of the failed attempt stops; the next attempt's ranks start new interpreters.
    case cold
    /// The same, the new ranks in interpreters that imported torch ahead.
    case warm
    /// The survivors rejoin in process; the lost ranks start warm and take a peer's state.
    case rejoin

    var manifestLine: String {
        switch self {
        case .cold: ""
        case .warm: "warm: {preload: [ringmaster.torch.warm], spares: 2}"
        case .rejoin: "warm: {preload: [ringmaster.torch.warm], spares: 2, rejoin: 20s}"
        }
    }
}

struct TorchGoodputBenchmark: Sendable {
    var minutes: Double
    var meanInterval: Double
    var seed: UInt64
    var modes: [TorchRecovery] = TorchRecovery.allCases
    var python: String
    var script: String
    /// The folder holding the `ringmaster` package (`python/`).
    var packagePath: String
    var progress: @Sendable (String) -> Void

    static let kinds: [ChaosRequest.Action] = [.killRank, .killNode, .hangRank]

    struct KindFigures: Codable, Sendable {
        /// Failure → first step after it, seconds.
        var gap: Quantiles
        var detection: Quantiles
        var recovery: Quantiles
        var lostSteps: Int
    }

    struct ModeFigures: Codable, Sendable {
        var mode: String
        var ettr: Double
        var wallETTR: Double
        var trainingSeconds: Double
        var wallSeconds: Double
        var steps: Int
        var failures: Int
        var byKind: [String: KindFigures]
        var lostSteps: Int
    }

    struct Result: Codable, Sendable {
        var stepSeconds: Double
        var modes: [ModeFigures]
    }

    func manifest(name: String, steps: Int, checkpoints: String, mode: TorchRecovery) -> String {
        """
        name: \(name)
        command: ["\(python)", "\(script)", --steps, "\(steps)", --checkpoint-every, "10"]
        env: {PYTHONUNBUFFERED: "1", OMP_NUM_THREADS: "1", PYTHONPATH: "\(packagePath)"}
        parallelism: {data: 4}
        checkpoint: {every: 10, keep: 3, dir: \(checkpoints)}
        failure: {maxRestarts: 1000, backoff: 200ms, stallTimeout: auto, quarantineAfter: 1000}
        \(mode.manifestLine)
        """
    }

    func run(ringmaster: String) async throws -> Result {
        let controller = try await ControllerProcess.startForBenchmark(
            ringmaster: ringmaster, name: "goodput-torch",
            clusterYAML: "name: goodput-torch\nlocal: {nodes: 4, accelerators: 2}\nheartbeat: {interval: 300ms, missed: 3}\n",
            readyNodes: 4)
        let folder = controller.benchmarkFolder
        do {
            let client = try controller.client()
            let result = try await onDedicatedThread(name: "bench goodput torch") { try measure(client: client, folder: folder) }
            await controller.stopBenchmark()
            return result
        } catch {
            await controller.stopBenchmark()
            throw error
        }
    }

    /// The undisturbed step time: the job's progress between step 50 and step 350 of a failure-free run.
    private func stepSeconds(client: ControllerClient, folder: String) throws -> Double {
        progress("baseline: 400 failure-free steps (cold)")
        let job = try client.post("/v1/jobs", body: SubmitRequest(
            manifest: manifest(name: "baseline", steps: 400, checkpoints: folder + "/checkpoints", mode: .cold),
            path: folder + "/baseline.yaml"), as: JobView.self)
        var marks: [(Date, Int)] = []
        try pollUntil(seconds: 600, "the baseline to pass step 350") {
            let view = try client.get("/v1/jobs/\(job.id)", as: JobDetail.self).job
            if view.state.isFinal { throw BenchmarkFailure(description: "the baseline ended \(view.state.rawValue): \(view.reason ?? "")") }
            guard let step = view.step else { return false }
            if marks.isEmpty, step >= 50 { marks.append((Date(), step)) }
            if marks.count == 1, step >= 350 { marks.append((Date(), step)) }
            return marks.count == 2
        }
        let (t0, s0) = marks[0], (t1, s1) = marks[1]
        return t1.timeIntervalSince(t0) / Double(s1 - s0)
    }

    private func measure(client: ControllerClient, folder: String) throws -> Result {
        let step = try stepSeconds(client: client, folder: folder)
        let steps = Int(minutes * 60 / step)
        progress(String(format: "undisturbed %.1f ms/step; each run: %d steps (≈ %.1f min), a failure every %.0f s on average",
                        step * 1000, steps, Double(steps) * step / 60, meanInterval))
        let figures = try modes.map { try chaosRun(client: client, folder: folder, mode: $0, steps: steps, stepSeconds: step) }
        return Result(stepSeconds: step, modes: figures)
    }

    /// One run under the seeded schedule (the same for both modes).
    private func chaosRun(client: ControllerClient, folder: String, mode recovery: TorchRecovery, steps: Int,
                          stepSeconds: Double) throws -> ModeFigures {
        let mode = recovery.rawValue
        let warm = recovery != .cold
        let name = "torch-\(mode)"
        progress("\(mode) run")
        let done = Mutex(false)
        let injector = Thread { [self] in
            // The schedule starts once the job trains (and, warm, every node's pool is full): a failure in the
            // first seconds would be the first start's, which no restart mode changes.
            let since = Date()
            while !done.withLock({ $0 }), Date().timeIntervalSince(since) < 300 {
                let job = (try? client.get("/v1/jobs", as: [JobView].self))?.first { $0.name == name }
                let pools = (try? client.get("/v1/nodes", as: [NodeView].self))?.compactMap(\.warmInterpreters).reduce(0, +) ?? 0
                if job?.step != nil, !warm || pools >= 8 { break }
                Thread.sleep(forTimeInterval: 0.2)
            }
            progress("\(mode): failures start")
            var rng = SplitMix64(seed: seed)
            while !done.withLock({ $0 }) {
                let deadline = Date().addingTimeInterval(rng.exponential(mean: meanInterval))
                let action = Self.kinds[Int(rng.next() % UInt64(Self.kinds.count))]
                let choice = rng.next()
                while Date() < deadline, !done.withLock({ $0 }) { Thread.sleep(forTimeInterval: 0.1) }
                if done.withLock({ $0 }) { break }
                guard let jobs = try? client.get("/v1/jobs", as: [JobView].self),
                      let job = jobs.first(where: { $0.name == name && $0.state == .running }) else { continue }
                if let report = try? Chaos.inject(ChaosRequest(action: action, seed: choice), job: job.id, client: client) {
                    progress("\(mode): chaos \(report.message)")
                }
            }
        }
        injector.start()
        var events: [EventView] = []
        let start = Date()
        let final = try client.submitAndFollow(manifest(name: name, steps: steps, checkpoints: folder + "/checkpoints-\(mode)", mode: recovery),
                                               path: folder + "/\(name).yaml") { e in
            events.append(e)
            if e.kind == "recovery.complete" { progress("\(mode): \(e.message)") }
        }
        let wall = Date().timeIntervalSince(start)
        done.withLock { $0 = true }
        guard final.state == .succeeded else {
            throw BenchmarkFailure(description: "the \(mode) run ended \(final.state.rawValue): \(final.reason ?? "")")
        }
        return Self.figures(mode: mode, events: events, steps: steps, stepSeconds: stepSeconds, wall: wall)
    }

    /// Per failure kind (of the first detection of each failure): detection, recovery, their sum, lost steps.
    static func figures(mode: String, events: [EventView], steps: Int, stepSeconds: Double, wall: Double) -> ModeFigures {
        var detection: [String: [Double]] = [:], recovery: [String: [Double]] = [:], gaps: [String: [Double]] = [:]
        var lost: [String: Int] = [:]
        var pending: [Int64: (kind: String, seconds: Double)] = [:]  // attempt row → the failure detected in it
        for e in events {
            let p = e.payloadFields
            if e.kind == "failure.detected", p["refines"] == nil, let attempt = e.attempt,
               let kind = (p["injected"] as? String) ?? (p["kind"] as? String),
               let seconds = (p["detectionSeconds"] as? String).flatMap(Double.init) {
                if pending[attempt] == nil { pending[attempt] = (kind, seconds) }
            } else if e.kind == "recovery.complete", let r = p["recoverySeconds"] as? Double,
                      let failure = pending.min(by: { $0.key < $1.key })?.value {
                // One recovery ends every failure detected since the last one (a failure during a recovery
                // is part of it): the outage counts from the first.
                pending = [:]
                detection[failure.kind, default: []].append(failure.seconds)
                recovery[failure.kind, default: []].append(r)
                gaps[failure.kind, default: []].append(failure.seconds + r)
                lost[failure.kind, default: 0] += Int((p["lostSteps"] as? Double) ?? 0)
            }
        }
        var byKind: [String: KindFigures] = [:]
        for kind in gaps.keys {
            byKind[kind] = KindFigures(gap: Quantiles(gaps[kind]!), detection: Quantiles(detection[kind] ?? []),
                                       recovery: Quantiles(recovery[kind] ?? []), lostSteps: lost[kind] ?? 0)
        }
        let lostSteps = lost.values.reduce(0, +)
        let first = events.first { $0.kind == "attempt.stepping" }?.time
        let training = first.flatMap { t in events.last.map { $0.time.timeIntervalSince(t) } } ?? wall
        let downtime = gaps.values.joined().reduce(0, +) + Double(lostSteps) * stepSeconds
        return ModeFigures(mode: mode, ettr: max(0, 1 - downtime / max(training, 1e-9)),
                           wallETTR: Double(steps) * stepSeconds / wall, trainingSeconds: training, wallSeconds: wall,
                           steps: steps, failures: gaps.values.map(\.count).reduce(0, +), byKind: byKind, lostSteps: lostSteps)
    }
}
