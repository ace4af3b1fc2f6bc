import ArgumentParser
import Foundation

struct BenchController: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "A controller on a local cluster: submit → all ranks started, idle CPU, events/s streamed.",
        discussion: """
            Starts `ringmaster controller` on a fresh state directory with N local agents (2 simulated
            accelerators each), measures its CPU while idle, submits an N×2-rank job ROUNDS times (time from
            the submit request to the last `rank.started` event), then runs short jobs while a follower
            measures event delivery, and reads the whole event stream from the start. Goals: submit → 8
            ranks running < 500 ms; controller idle CPU < 1% of a core.
            """)

    @Option(help: "Local agents (2 ranks each).")
    var nodes = 4

    @Option(help: "Submit → running rounds.")
    var rounds = 10

    @Option(help: "Seconds to measure idle CPU over.")
    var idle: Double = 10

    @Option(help: "Short jobs run while measuring event delivery.")
    var eventJobs = 40

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        guard nodes >= 1, rounds >= 1, idle > 0, eventJobs >= 0 else {
            throw ValidationError("--nodes and --rounds need at least 1, --idle a positive number, --event-jobs 0 or more")
        }
    }

    func run() async throws {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let bench = ControllerBenchmark(nodes: nodes, rounds: rounds, idleSeconds: idle, eventJobs: eventJobs,
                                        progress: { [json] in if !json { Output.line($0) } })
        let r = try await bench.run(ringmaster: exe)
        if json { return try Output.json(r) }
        print("")
        print(Output.table(["MEASURE", "VALUE", "GOAL"], [
            ["submit → \(r.ranks) ranks started, p50", String(format: "%.1f ms", r.submitToRunningP50Ms), "< 500 ms"],
            ["submit → \(r.ranks) ranks started, max", String(format: "%.1f ms", r.submitToRunningMaxMs), "< 500 ms"],
            ["controller CPU, \(r.nodes) idle nodes", String(format: "%.2f%% of a core", r.controllerIdleCPUPercent), "< 1%"],
            ["agents' CPU together, idle", String(format: "%.2f%% of a core", r.agentsIdleCPUPercent), "-"],
            ["events -f from the start (\(r.events) events)", String(format: "%.0f events/s", r.streamedEventsPerSecond), "-"],
            ["event commit → live follower, p50 / p99",
             String(format: "%.1f / %.1f ms", r.liveDeliveryP50Ms, r.liveDeliveryP99Ms), "-"],
        ]))
    }
}
