import ArgumentParser
import Collectives
import Foundation
import SystemUtilities

/// `ringmaster bench allreduce --ranks N --sizes 8,4K,…`: spawns N rank processes over
/// loopback TCP (each running `bench allreduce-rank`), hosts their rendezvous, and prints
/// time, algbw and busbw per size.
struct BenchAllReduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "All-reduce bandwidth and latency between N local rank processes over loopback TCP.",
        discussion: """
            time is the median over the timed iterations of the slowest rank's time; \
            algbw = bytes/time; busbw = algbw·2(N−1)/N (nccl-tests definitions, GB = 10^9 bytes).
            """)

    @Option(help: "Number of rank processes.") var ranks: Int
    @OptionGroup var workload: AllReduceWorkload
    @Flag(help: "Print a JSON array of {ranks, bytes, dtype, seconds, algbwGBps, busbwGBps}.") var json = false

    func validate() throws {
        guard (1...256).contains(ranks) else { throw ValidationError("--ranks must be between 1 and 256") }
        try workload.check()
    }

    /// Hosts the rendezvous, spawns the ranks, prints rank 0's rows.
    func run() async throws {
        let token = (0..<4).map { _ in String(UInt64.random(in: 0...UInt64.max), radix: 16) }.joined()
        let server = try RendezvousServer(attempt: 1, token: token, worldSize: ranks)
        defer { server.shutdown() }
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        var base = ProcessInfo.processInfo.environment
        base["RINGMASTER_RENDEZVOUS"] = server.address
        base["RINGMASTER_TOKEN"] = token
        base["RINGMASTER_ATTEMPT"] = "1"
        base["WORLD_SIZE"] = String(ranks)
        var children: [ChildProcess] = []
        for r in 0..<ranks {
            var env = base
            env["RANK"] = String(r)
            children.append(try ChildProcess([executable, "bench", "allreduce-rank"] + workload.arguments, environment: env,
                                             stdout: r == 0 ? .capture : .inherit, stderr: .inherit))
        }
        var failed: [String] = []
        for (r, child) in children.enumerated() {
            let code = await child.exit()
            if code != 0 { failed.append("rank \(r) exited with \(code)") }
        }
        let result = children[0].outputLines.last { $0.hasPrefix("RESULT ") }
        let rows = result.flatMap { try? JSONDecoder().decode([BenchmarkResult].self, from: Data($0.dropFirst(7).utf8)) } ?? []
        guard failed.isEmpty, rows.count == workload.sizeList.count else {
            FileHandle.standardError.write(Data("ringmaster bench allreduce: \(failed.isEmpty ? "no results from rank 0" : failed.joined(separator: ", "))\n".utf8))
            throw ExitCode(1)
        }
        print(json ? BenchmarkResult.json(rows) + "\n" : BenchmarkResult.table(rows), terminator: "")
    }
}

/// Options shared by the benchmark and its per-rank workers.
struct AllReduceWorkload: ParsableArguments {
    @Option(help: "Comma-separated buffer sizes in bytes (K, M, G suffixes).")
    var sizes = "8,4K,64K,1M,16M,64M,256M"
    @Option(help: "Element type: float32, float64, float16, bfloat16, int32, int64.") var dtype = "float32"
    @Option(help: "Timed iterations per size (median reported).") var iterations = 20
    @Option(help: "Untimed warm-up iterations per size.") var warmup = 5
    @Option(help: ArgumentHelp("auto, ring or doubling (to measure the small-message threshold).", visibility: .hidden))
    var algorithm = "auto"
    @Option(help: ArgumentHelp("Ring chunk size in KiB.", visibility: .hidden)) var chunkKib: Int?
    @Option(help: ArgumentHelp("Small-message threshold in bytes.", visibility: .hidden)) var smallBytes: Int?
    @Option(help: ArgumentHelp("SO_SNDBUF/SO_RCVBUF in KiB (0: kernel default).", visibility: .hidden)) var socketKib: Int?
    @Option(help: "Deadline of each operation, in seconds.") var timeout: Double = 120

    var sizeList: [Int] { ByteSize.parseList(sizes) ?? [] }

    func check() throws {
        guard ByteSize.parseList(sizes) != nil else { throw ValidationError("--sizes: expected e.g. 8,4K,64K,1M") }
        guard DataType(name: dtype) != nil else { throw ValidationError("--dtype: unknown type '\(dtype)'") }
        guard ["auto", "ring", "doubling"].contains(algorithm) else { throw ValidationError("--algorithm: auto, ring or doubling") }
        guard iterations >= 1, warmup >= 0, timeout > 0 else { throw ValidationError("--iterations ≥ 1, --warmup ≥ 0, --timeout > 0") }
    }

    var arguments: [String] {
        var a = ["--sizes", sizes, "--dtype", dtype, "--iterations", String(iterations), "--warmup", String(warmup),
                 "--algorithm", algorithm, "--timeout", String(timeout)]
        if let chunkKib { a += ["--chunk-kib", String(chunkKib)] }
        if let smallBytes { a += ["--small-bytes", String(smallBytes)] }
        if let socketKib { a += ["--socket-kib", String(socketKib)] }
        return a
    }

    var options: GroupOptions {
        var o = GroupOptions()
        o.timeout = .milliseconds(Int(timeout * 1000))
        if let chunkKib { o.chunkBytes = chunkKib << 10 }
        if let smallBytes { o.smallMessageBytes = smallBytes }
        if let socketKib { o.socketBufferBytes = Int32(socketKib << 10) }
        return o
    }

    var forcedAlgorithm: AllReduceAlgorithm? {
        switch algorithm {
        case "ring": .ring
        case "doubling": .recursiveDoubling
        default: nil
        }
    }
}
