import ArgumentParser
import Foundation
import StateStore

struct BenchStore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Events/s the state store commits: single-row transactions and batched inserts.")

    @Option(help: "Events written per mode.")
    var events = 20_000

    @Option(help: "Events per transaction in the batched mode.")
    var batch = 500

    @Option(help: "Directory for the scratch database (a real file, WAL mode).")
    var dir = NSTemporaryDirectory()

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        guard events > 0 else { throw ValidationError("--events must be at least 1") }
        guard batch > 1 else { throw ValidationError("--batch must be at least 2 (1 is the single-row mode)") }
    }

    func run() throws {
        let results = try StoreBenchmark(events: events, batchSize: batch).run(in: dir)
        if json {
            try Output.json(results)
            return
        }
        print("state store: \(events) events per mode, SQLite WAL, synchronous=NORMAL, in \(dir)")
        print(Output.table(["MODE", "BATCH", "SECONDS", "EVENTS/S"], results.map {
            [$0.mode, String($0.batchSize), String(format: "%.3f", $0.seconds), String(format: "%.0f", $0.eventsPerSecond)]
        }))
    }
}
