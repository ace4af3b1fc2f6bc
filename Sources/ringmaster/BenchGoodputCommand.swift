import ArgumentParser
import ControllerHarness
import Foundation

struct BenchGoodput: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "goodput",
        abstract: "The demo job under Poisson failures of mixed kinds: ETTR, detection and recovery times, lost steps.",
        discussion: """
            Starts a controller for 4 local agents (heartbeats every 300 ms, lost after 3 missed), measures the
            failure-free step time of the demo job (tiny model, data 2 × pipeline 2 × tensor 2, checkpoint every
            6 steps), then runs it for about --minutes of failure-free work while kill-rank, hang-rank, kill-node
            and stop-agent arrive as a Poisson process with mean --every. ETTR = committed steps × failure-free
            step time ÷ wall time, the step time measured inside the chaos run while nothing disturbed it (the
            separate baseline differs from it by the machine's run-to-run noise, about ±5%), beside the planner's model ETTR = 1 − (τ/2 + R)/MTBF for the same figures
            (R = mean detection + mean recovery).
            The job's stall timeout is `auto` (5 × the longest recent step interval, at least 1 s).
            Targets: ETTR ≥ 0.97; time to recover p50 ≤ 0.3 s; hang detection p50 ≤ 1.5 s; detection p99
            rank-exit < 1 s, node-lost < 3 s.
            The controller's RSS (VmRSS) and open file descriptors are sampled every --sample-every seconds from
            the baseline's submit to the chaos run's end: start, quartiles, end, maxima, growth after the first
            quarter and the slope over the second half (JSON: every sample).

            --workload torch: the PyTorch job of Manifests/jobs/scripts/torch_resilient.py (4-rank DDP over the ring
            hook, checkpoint every 10 steps) under one seeded schedule of kill-rank, kill-node and hang-rank, run once
            per --modes side by side — cold restarts, warm interpreters (`warm:`), in-process rejoin (`warm.rejoin`) —
            printing per failure kind the time from
            the failure to the first step after it, lost steps, and ETTR. Goals: kill-rank ≤ 2 s, kill-node ≤ 3 s,
            ETTR ≥ 0.95 with a failure every 60 s. Needs the CPU torch venv (scripts/torch-venv.sh).
            """)

    enum Workload: String, ExpressibleByArgument, CaseIterable {
        case demo, torch
    }

    @Option(help: "The job under failures: demo (ringmaster-train, 3-D parallel) or torch (cold versus warm restarts).")
    var workload: Workload = .demo

    @Option(help: "The torch workload's recovery modes, comma-separated: cold, warm, rejoin.")
    var modes = "cold,warm,rejoin"

    @Option(help: "The torch workload's interpreter (with torch installed).")
    var python = "/var/tmp/ringmaster-torch-venv/bin/python"

    @Option(help: "The torch workload's script (default: Manifests/jobs/scripts/torch_resilient.py of this checkout).")
    var script: String?

    @Option(help: "Failure-free minutes of training in the chaos run.")
    var minutes: Double = 5

    @Option(help: "Mean seconds between failures.")
    var every: Double = 30

    @Option(help: "Seed of the failure schedule.")
    var seed: UInt64 = 7

    @Option(help: "Seconds between samples of the controller's RSS and open file descriptors.")
    var sampleEvery: Double = 10

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        if workload == .torch { return try await runTorch(ringmaster: exe) }
        let bench = GoodputBenchmark(minutes: minutes, meanInterval: every, seed: seed, sampleEvery: sampleEvery,
                                     progress: { [json] in if !json { Output.line(Human.time(Date()) + "  " + $0) } })
        let r = try await bench.run(ringmaster: exe)
        if json { return try Output.json(r) }
        func q(_ x: Quantiles?) -> String {
            guard let x, x.count > 0 else { return "-" }
            return String(format: "%.2f / %.2f s (n=%d)", x.p50, x.p99, x.count)
        }
        let rows: [[String]] = [
            ["ETTR (measured)", String(format: "%.3f", r.ettr), "≥ 0.97"],
            ["ETTR (model: 1 − (τ/2 + R)/MTBF)", String(format: "%.3f", r.expectedETTR), "-"],
            ["failures / wall time", String(format: "%d in %.0f s (%@)", r.failures, r.wallSeconds,
                                             r.injected.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")), "-"],
            ["steps, failure-free step time", String(format: "%d, %.1f ms in the run (baseline run %.1f ms); checkpoint every %.2f s",
                                                      r.steps, r.failureFreeStepSeconds * 1000, r.baselineStepSeconds * 1000,
                                                      r.checkpointIntervalSeconds), "-"],
            ["detection rank-exit p50 / p99", q(r.detectionSeconds["rankExit"]), "p99 < 1 s"],
            ["detection node-lost p50 / p99", q(r.detectionSeconds["nodeLost"]), "p99 < 3 s"],
            ["detection hang p50 / p99", q(r.detectionSeconds["hang"]), "p50 ≤ 1.5 s"],
            ["time to recover p50 / p99", q(r.recoverySeconds), "p50 ≤ 0.3 s"],
            ["  teardown", q(r.phases["teardown"]), "-"],
            ["  backoff", q(r.phases["backoff"]), "-"],
            ["  relaunch (launch → all started)", q(r.phases["relaunch"]), "-"],
            ["  rendezvous + restore + first step", q(r.phases["rendezvousRestoreFirstStep"]), "-"],
            ["lost steps", "\(r.lostSteps)", "-"],
        ]
        print("")
        print(Output.table(["MEASURE", "VALUE", "TARGET"], rows + Self.resourceRows(r.controller)))
    }

    /// The torch workload, cold and warm side by side.
    func runTorch(ringmaster exe: String) async throws {
        guard let script = script ?? Self.checkoutFile("Manifests/jobs/scripts/torch_resilient.py", near: exe) else {
            throw ValidationError("cannot find Manifests/jobs/scripts/torch_resilient.py from here or the executable: give --script PATH")
        }
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw ValidationError("--python \(python) is not an executable — make the venv with scripts/torch-venv.sh /var/tmp/ringmaster-torch-venv")
        }
        let root = URL(fileURLWithPath: script).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().path
        var chosen: [TorchRecovery] = []
        for word in modes.split(separator: ",") {
            guard let mode = TorchRecovery(rawValue: word.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--modes: `\(word)` is not one of cold, warm, rejoin")
            }
            chosen.append(mode)
        }
        guard !chosen.isEmpty else { throw ValidationError("--modes: name at least one of cold, warm, rejoin") }
        let bench = TorchGoodputBenchmark(minutes: minutes, meanInterval: every, seed: seed, modes: chosen, python: python, script: script,
                                          packagePath: root + "/python",
                                          progress: { [json] in if !json { Output.line(Human.time(Date()) + "  " + $0) } })
        let r = try await bench.run(ringmaster: exe)
        if json { return try Output.json(r) }
        func gap(_ m: TorchGoodputBenchmark.ModeFigures, _ kind: String) -> String {
            guard let k = m.byKind[kind], k.gap.count > 0 else { return "-" }
            return String(format: "%.2f / %.2f s (n=%d), lost %d", k.gap.p50, k.gap.p99, k.gap.count, k.lostSteps)
        }
        var rows: [[String]] = [
            ["ETTR: 1 − (gaps + lost steps) ÷ training time"] + r.modes.map { String(format: "%.3f", $0.ettr) }
                + ["≥ 0.95 (a failure / 60 s)"],
            ["steps × baseline step ÷ wall from submit"] + r.modes.map { String(format: "%.3f", $0.wallETTR) } + ["-"],
            ["failures, training / wall time"] + r.modes.map { "\($0.failures) in \(Int($0.trainingSeconds)) / \(Int($0.wallSeconds)) s" }
                + ["-"],
        ]
        for (kind, goal) in [("kill-rank", "≤ 2 s"), ("kill-node", "≤ 3 s"), ("hang-rank", "-")] {
            rows.append(["\(kind): failure → first step p50 / p99"] + r.modes.map { gap($0, kind) } + [goal])
        }
        rows.append(["lost steps"] + r.modes.map { "\($0.lostSteps)" } + ["-"])
        print("")
        print(String(format: "undisturbed step %.1f ms; %d steps per run", r.stepSeconds * 1000, r.modes.first?.steps ?? 0))
        print(Output.table(["MEASURE"] + r.modes.map { $0.mode.uppercased() } + ["GOAL"], rows))
    }

    /// `relative` in the checkout around the current directory or the executable (`.build/release/ringmaster`).
    static func checkoutFile(_ relative: String, near exe: String) -> String? {
        var dirs = [FileManager.default.currentDirectoryPath]
        var d = URL(fileURLWithPath: exe).deletingLastPathComponent()
        for _ in 0..<4 {
            dirs.append(d.path)
            d = d.deletingLastPathComponent()
        }
        return dirs.map { $0 + "/" + relative }.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// The bounds this benchmark states for the controller over a run (README "Measured"): RSS after
    /// start-up grows by at most 8 MiB and stays under 64 MiB; open descriptors stay under 70 (36 at rest, the
    /// SQLite pool's 6 connections × 2, the API's and rendezvous' sockets, 8 rank logs) and end at most 16 above
    /// the start (the pool's readers open as reads overlap).
    static let rssGrowthBoundMiB = 8.0
    static let rssBoundMiB = 64.0
    static let fdBound = 70
    static let fdGrowthBound = 16

    /// The controller's RSS and fd curve: start, quartiles, end, maxima, growth, with the bounds.
    static func resourceRows(_ c: ResourceCurve) -> [[String]] {
        let labels = c.points.map(\.label).joined(separator: " / ")
        let rss = c.points.map { String(format: "%.1f", $0.rssMiB) }.joined(separator: " / ")
        let fds = c.points.map { "\($0.fds)" }.joined(separator: " / ")
        return [
            ["controller RSS \(labels)", rss + String(format: " MiB (max %.1f, %d samples over %.0f s)", c.maxRSSMiB, c.samples,
                                                        c.points.last?.seconds ?? 0), String(format: "max < %.0f MiB", Self.rssBoundMiB)],
            ["controller RSS growth after 25% / slope, 2nd half",
             String(format: "%+.1f MiB / %+.1f MiB/h", c.rssGrowthAfterWarmUpMiB, c.rssSlopeMiBPerHour),
             String(format: "≤ %.0f MiB / -", Self.rssGrowthBoundMiB)],
            ["controller open fds \(labels)", fds + " (max \(c.maxFDs))",
             "max < \(Self.fdBound), end ≤ start + \(Self.fdGrowthBound)"],
        ]
    }
}
