import ArgumentParser
import Foundation

struct BenchScale: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale",
        abstract: "One controller on simulated clusters of growing size: launch, steady-state cost, lost nodes, API latency.",
        discussion: """
            For each size, starts `ringmaster controller` on a fresh state directory with a `simulated:` inventory
            (N nodes of --accelerators each and one spare; every agent is simulated in the controller's process and
            speaks the real protocol), submits one job of N × accelerators ranks (data N × tensor accelerators) that
            steps every --step-time and commits a checkpoint every 5 s, and measures: submit → every rank started and
            → every rank stepping; the controller's CPU (the simulation's own threads apart), RSS, store writes/s
            and growth while every rank steps, then at 10× the rate; --failures stop-agent injections (only the
            missing heartbeats tell), their detection and the recovery onto the spare; and the latency of
            GET /v1/jobs/{id}, /v1/nodes and /v1/events?limit=100 meanwhile. Prints each figure beside the goal at
            512 nodes and its ratio to the first size's. The agents hold step reports for --report-batch ms (what the
            README's Scale section advises for large clusters) and send each node's as one message.
            """)

    @Option(help: "Cluster sizes in nodes, comma-separated.")
    var nodes = "64,128,256,512"

    @Option(help: "Accelerators (ranks) per node.")
    var accelerators = 8

    @Option(help: "Step time of every rank (1s: 1 Hz).")
    var stepTime = "1s"

    @Option(help: "Seconds of steady state measured at the step rate.")
    var steady: Double = 20

    @Option(help: "Seconds of steady state measured at 10× the step rate (0: skip).")
    var fastSteady: Double = 10

    @Option(help: "stop-agent failures injected per size.")
    var failures = 5

    @Option(help: "Heartbeat interval of the simulated inventory.")
    var heartbeat = "1s"

    @Option(help: "Missed heartbeats before a node is lost.")
    var missed = 3

    @Option(help: "The agents' heartbeat.reportBatch in milliseconds: step reports held and sent as one message per node (0: each at once).")
    var reportBatch = 100

    @Flag(help: "Print JSON: an array, one object per size.")
    var json = false

    var sizes: [Int] { nodes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        guard !sizes.isEmpty, sizes.count == nodes.split(separator: ",").count, sizes.allSatisfy({ $0 >= 1 && $0 <= 16_000 }) else {
            throw ValidationError("--nodes \(nodes) is not a list of node counts 1–16000 like 64,128,256,512")
        }
        guard accelerators >= 1, accelerators <= 1024 else { throw ValidationError("--accelerators must be 1–1024") }
        guard Chaos.seconds(stepTime) != nil else { throw ValidationError("--step-time \(stepTime) is not a duration like 1s") }
        guard Chaos.seconds(heartbeat) != nil else { throw ValidationError("--heartbeat \(heartbeat) is not a duration like 1s") }
        guard reportBatch >= 0, Double(reportBatch) <= Chaos.seconds(heartbeat)! * 1000 else {
            throw ValidationError("--report-batch \(reportBatch) must be 0 or more milliseconds, at most the heartbeat interval")
        }
        guard steady > 0, fastSteady >= 0, failures >= 0, missed >= 1 else {
            throw ValidationError("--steady must be positive, --fast-steady and --failures 0 or more, --missed at least 1")
        }
    }

    func run() async throws {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let bench = ScaleBenchmark(
            sizes: sizes, accelerators: accelerators, stepSeconds: Chaos.seconds(stepTime)!, steadySeconds: steady,
            fastSteadySeconds: fastSteady, failures: failures, heartbeatSeconds: Chaos.seconds(heartbeat)!, missed: missed,
            reportBatchMilliseconds: reportBatch,
            progress: { [json] text in if !json { Output.line(text) } })
        let results = try await bench.run(ringmaster: exe)
        if json { return try Output.json(results) }
        print("")
        print(ScaleReport.table(results, goalDetection: Chaos.seconds(heartbeat)! * Double(missed) + 0.5))
    }
}

/// The `bench scale` table: a row per figure, a column per size, the goal at 512 nodes, and the ratio of the
/// largest size's figure to the first's.
enum ScaleReport {
    static func table(_ results: [ScaleBenchmark.SizeResult], goalDetection: Double) -> String {
        guard let first = results.first, let last = results.last else { return "" }
        func ms(_ s: Double) -> String { String(format: "%.0f ms", s * 1000) }
        func sec(_ s: Double) -> String { String(format: "%.2f s", s) }
        func pct(_ p: Double?) -> String { p.map { String(format: "%.1f%%", $0) } ?? "-" }
        let rows: [(String, (ScaleBenchmark.SizeResult) -> String, String, String)] = [
            ("submit → all ranks started", { sec($0.submitToStartedSeconds) }, "< 1 s", "submitToStarted"),
            ("submit → all ranks stepping", { sec($0.submitToSteppingSeconds) }, "-", "submitToStepping"),
            ("controller CPU at 1/step (of a core)", { pct($0.controllerCPUPercent) }, "< 25%", "controllerCPU"),
            ("controller CPU at 10/step", { pct($0.controllerCPUPercentFast) }, "-", ""),
            ("simulator CPU at 1/step / 10/step", { pct($0.simulatorCPUPercent) + " / " + pct($0.simulatorCPUPercentFast) }, "-", ""),
            ("controller RSS", { String(format: "%.0f MiB", Double($0.controllerRSSBytes) / 1_048_576) }, "< 1 GiB", "controllerRSS"),
            ("store writes/s", { String(format: "%.1f", $0.storeWritesPerSecond) }, "-", "storeWrites"),
            ("store growth per day", { String(format: "%.1f MB", $0.storeBytesPerHour * 24 / 1e6) }, "< 100 MB", "storeGrowth"),
            ("node-lost detection p50 / p99", { sec($0.nodeLostDetectionSeconds.p50) + " / " + sec($0.nodeLostDetectionSeconds.p99) },
             String(format: "p99 ≤ %.1f s", goalDetection), "detectionP99"),
            ("recovery onto a spare p50 / p99", { sec($0.recoverySeconds.p50) + " / " + sec($0.recoverySeconds.p99) }, "p50 < 3 s", "recoveryP50"),
            ("API p50 / p99 (all routes)", { ms($0.apiLatencySeconds.p50) + " / " + ms($0.apiLatencySeconds.p99) }, "p99 < 50 ms", "apiP99"),
            ("  GET /v1/jobs/{id} p99", { ms($0.apiLatencyByRoute["job"]?.p99 ?? 0) }, "", ""),
            ("  GET /v1/nodes p99", { ms($0.apiLatencyByRoute["nodes"]?.p99 ?? 0) }, "", ""),
            ("  GET /v1/events?limit=100 p99", { ms($0.apiLatencyByRoute["events"]?.p99 ?? 0) }, "", ""),
            ("load average (2 cores)", { String(format: "%.1f", $0.load1m) }, "", ""),
        ]
        let header = ["FIGURE"] + results.map { "\($0.nodes) nodes (\($0.ranks) ranks)" } + ["GOAL", "\(last.nodes)/\(first.nodes)"]
        return Output.table(header, rows.map { row in
            [row.0] + results.map(row.1) + [row.2, row.3.isEmpty ? "" : String(format: "%.2f×", last.ratioToFirst[row.3] ?? 0)]
        })
    }
}
