import ArgumentParser
import Foundation

struct BenchAPILoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api-load",
        abstract: "wrk against the API's read routes while the demo job trains, beside the same job unloaded.",
        discussion: """
            Starts a controller for 4 local agents, runs --history one-rank jobs to fill the job and event lists,
            then trains the demo job's layout (tiny model, data 2 × pipeline 2 × tensor 2, a checkpoint every 25
            steps) for --steps steps: once with no load, then for each of --rates once with one wrk per read route
            (\(APILoadBenchmark.routes.joined(separator: ", ")); --connections each, at most RATE requests/s per
            route, 0 for as fast as the controller answers) from the job's first step to its end, each followed
            by another unloaded run. Reported per route: requests/s, answers outside 2xx, socket errors, latency
            p50 / p90 / p99 / max; per run: the failures detected (the job's stall timeout is `auto`: a step
            report the load held up shows as a hang), the slowest rank's ms/step, and for a loaded run that ÷ the mean of
            the unloaded runs beside it (the machine's speed drifts, so only runs of one benchmark compare), with
            the CPU the controller and the wrk processes took meanwhile (on a machine whose cores the ranks
            already fill, that CPU is taken from the training).
            Needs wrk (Debian: apt-get install wrk) and scripts/wrk-api-load.lua.
            """)

    @Option(help: "Training steps per run.")
    var steps = 250

    @Option(help: "Requests/s per route of each loaded run, comma-separated (0: as fast as the controller answers).")
    var rates = "10,0"

    @Option(help: "wrk connections per route.")
    var connections = 2

    @Option(help: "One-rank jobs run first.")
    var history = 200

    @Option(help: "The wrk executable.")
    var wrk = "wrk"

    @Option(help: "The wrk Lua script (default: scripts/wrk-api-load.lua of this build's repository).")
    var script: String?

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        guard steps >= 10, connections >= 1, history >= 0 else {
            throw ValidationError("--steps needs at least 10, --connections at least 1, --history 0 or more")
        }
        guard !rateList.isEmpty, rateList.allSatisfy({ $0 >= 0 }) else {
            throw ValidationError("--rates is a comma-separated list of requests/s, 0 or more (0: no cap), e.g. 10,0")
        }
    }

    var rateList: [Double] { rates.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) } }

    func run() async throws {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        guard let script = script ?? APILoadBenchmark.findScript(executable: exe) else {
            throw ValidationError("scripts/wrk-api-load.lua not found beside the executable or in the working directory: pass --script")
        }
        guard wrk.contains("/") || ProcessInfo.processInfo.environment["PATH", default: ""].split(separator: ":")
            .contains(where: { FileManager.default.isExecutableFile(atPath: "\($0)/\(wrk)") })
        else { throw ValidationError("\(wrk) is not on PATH: install it (Debian: apt-get install wrk) or pass --wrk") }
        let bench = APILoadBenchmark(steps: steps, rates: rateList, connections: connections, history: history, wrk: wrk,
                                     script: script, progress: { [json] in if !json { Output.line(Human.time(Date()) + "  " + $0) } })
        let r = try await bench.run(ringmaster: exe)
        if json { return try Output.json(r) }
        func load(_ run: APILoadBenchmark.Run) -> String {
            guard let rate = run.ratePerRoute else { return "none" }
            let total = run.routes.map(\.requestsPerSecond).reduce(0, +)
            return (rate > 0 ? String(format: "≤ %.0f/s per route", rate) : "unlimited") + String(format: " (%.0f/s in all)", total)
        }
        print("")
        print(Output.table(["RUN", "LOAD", "MS/STEP", "÷ UNLOADED NEIGHBOURS", "FAILURES", "CPU: CONTROLLER / WRK (% OF A CORE)"],
                           r.runs.map { run in
            [run.job, load(run), String(format: "%.1f", run.msPerStep), run.slowdown.map { String(format: "%.3f", $0) } ?? "-",
             "\(run.failures.count)", String(format: "%.0f / %.0f", run.controllerCPUPercent, run.loadCPUPercent)]
        }))
        print("")
        print(Output.table(["RUN", "ROUTE", "REQUESTS", "REQ/S", "NON-2XX", "SOCKET ERRORS", "P50 / P90 / P99 / MAX (ms)"],
                           r.runs.flatMap { run in
            run.routes.map { x in
                [run.job, x.route, "\(x.requests)", String(format: "%.0f", x.requestsPerSecond), "\(x.non2xx)", "\(x.socketErrors)",
                 String(format: "%.2f / %.2f / %.2f / %.2f", x.p50Ms, x.p90Ms, x.p99Ms, x.maxMs)]
            }
        }))
        let errors = r.runs.flatMap(\.routes).map { $0.non2xx + $0.socketErrors }.reduce(0, +)
        if errors > 0 {
            Output.error("\(errors) requests failed (non-2xx answers or socket errors)")
            throw ExitCode(1)
        }
    }
}
