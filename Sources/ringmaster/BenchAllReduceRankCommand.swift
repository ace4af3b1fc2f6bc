import ArgumentParser
import Collectives
import Foundation
import SystemUtilities

/// One rank of `bench allreduce` (hidden; spawned by it, and by the tests). Joins through the
/// rank environment (RANK, WORLD_SIZE, RINGMASTER_RENDEZVOUS, RINGMASTER_TOKEN, …).
/// Rank 0 prints `RESULT <json>`. On failure every rank prints `ERROR <kind> <rank>` and exits
/// with 3 (peerLost), 4 (timeout), 5 (mismatch) or 6 (anything else).
struct BenchAllReduceRankCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce-rank", abstract: "One rank of `bench allreduce`.", shouldDisplay: false)

    @OptionGroup var workload: AllReduceWorkload
    @Flag(help: "Print `PROGRESS <size index> <iteration>` after every timed iteration.") var progress = false

    func validate() throws { try workload.check() }

    func run() async throws {
        let code = try await onDedicatedThread(name: "rank") { work() }
        if code != 0 { throw ExitCode(code) }
    }

    /// The rank's whole life; returns its exit code.
    private func work() -> Int32 {
        do {
            let groups = try ProcessGroup.fromEnvironment(options: workload.options)
            var bench = AllReduceBenchmark(sizes: workload.sizeList, dataType: DataType(name: workload.dtype)!)
            bench.iterations = workload.iterations
            bench.warmup = workload.warmup
            bench.algorithm = workload.forcedAlgorithm
            if progress { bench.progress = { size, i in Self.emit("PROGRESS \(size) \(i)") } }
            let rows = try bench.run(groups.world)
            if groups.world.rank == 0 { Self.emit("RESULT " + BenchmarkResult.json(rows)) }
            groups.world.close()
            return 0
        } catch {
            Self.emit(Self.errorLine(error))
            FileHandle.standardError.write(Data("ringmaster rank \(ProcessInfo.processInfo.environment["RANK"] ?? "?"): \(error)\n".utf8))
            return Self.exitCode(error)
        }
    }

    /// Unbuffered line on stdout (the parent reads it while this process runs).
    static func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func errorLine(_ error: CollectiveError) -> String {
        switch error {
        case .peerLost(let r): "ERROR peerLost \(r)"
        case .timeout: "ERROR timeout -1"
        case .mismatch: "ERROR mismatch -1"
        default: "ERROR other -1"
        }
    }

    static func exitCode(_ error: CollectiveError) -> Int32 {
        switch error {
        case .peerLost: 3
        case .timeout: 4
        case .mismatch: 5
        default: 6
        }
    }
}
