import ArgumentParser
import Checkpointing
import Foundation

struct BenchCheckpoint: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Save and restore throughput of a rank's shard, beside dd with fsync on the same disk.")

    @Option(help: "Shard size in MiB.")
    var mib = 256

    @Option(help: "Number of tensors (files) the shard is split into.")
    var tensors = 16

    @Option(help: "Directory to write in (the disk being measured).")
    var dir = NSTemporaryDirectory()

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        guard mib > 0, tensors > 0 else { throw ValidationError("--mib and --tensors must be at least 1") }
    }

    func run() throws {
        let r = try CheckpointBenchmark(bytes: mib << 20, tensors: tensors).run(in: dir)
        if json {
            try Output.json(r)
            return
        }
        print("checkpoint shard: \(mib) MiB in \(tensors) files under \(dir) (temp → fsync → rename, SHA-256)")
        var rows = [
            ["save", String(format: "%.3f", r.saveSeconds), String(format: "%.2f", r.saveGBps)],
            ["restore + verify", String(format: "%.3f", r.restoreSeconds), String(format: "%.2f", r.restoreGBps)],
        ]
        if let dd = r.ddSeconds, let gbps = r.ddGBps {
            rows.append(["dd conv=fsync", String(format: "%.3f", dd), String(format: "%.2f", gbps)])
        }
        print(Output.table(["WHAT", "SECONDS", "GB/S"], rows))
        if let ratio = r.ratioToDd { print(String(format: "save throughput is %.0f%% of dd's (goal ≥ 50%%)", ratio * 100)) }
    }
}
