#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import Collectives

/// Real rank processes: the built `ringmaster` executable (next to the test bundle), started
/// with posix_spawn, joined through a rendezvous hosted by the test. Serialized: each test
/// runs several processes on a 2-core machine.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ProcessTests {
    static var executable: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("ringmaster").path
    }

    /// Starts `n` ranks of `bench allreduce-rank` with `arguments`, every stdout captured.
    static func startRanks(_ n: Int, _ arguments: [String], server: RendezvousServer, token: String) throws -> [ChildProcess] {
        var env = ProcessInfo.processInfo.environment
        env["RINGMASTER_RENDEZVOUS"] = server.address
        env["RINGMASTER_TOKEN"] = token
        env["RINGMASTER_ATTEMPT"] = "1"
        env["WORLD_SIZE"] = String(n)
        return try (0..<n).map { r in
            env["RANK"] = String(r)
            return try ChildProcess(path: executable, arguments: ["bench", "allreduce-rank"] + arguments,
                                    environment: env.map { "\($0.key)=\($0.value)" }, captureStdout: true)
        }
    }

    /// Reads rank 0's stdout until it has reported `iterations` timed iterations (bounded by
    /// the output: the worker runs a finite number of iterations, then exits and closes it).
    static func waitForProgress(_ child: ChildProcess, iterations: Int) -> Bool {
        var seen = 0
        while let line = child.readLine() {
            if line.hasPrefix("PROGRESS") { seen += 1 }
            if seen >= iterations { return true }
        }
        return false
    }

    /// Waits for a child and returns (exit code, stdout rest, seconds since `since`).
    static func finish(_ child: ChildProcess, since: Deadline) -> (code: Int32, output: String, seconds: Double) {
        let output = child.readAll()
        let code = ChildProcess.exitCode(child.wait())
        return (code, output, Double(Deadline.now().nanoseconds - since.nanoseconds) / 1e9)
    }

    @Test func executableIsBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: Self.executable), "build the package first: \(Self.executable)")
    }

    @Test func aKilledRankIsReportedAsPeerLostPromptly() async throws {
        let server = try RendezvousServer(attempt: 1, token: "k", worldSize: 3)
        defer { server.shutdown() }
        let outcome = try await onThread { () -> [(code: Int32, output: String, seconds: Double)] in
            let ranks = try Self.startRanks(3, ["--sizes", "8M", "--iterations", "400", "--warmup", "0", "--timeout", "60", "--progress"],
                                            server: server, token: "k")
            guard Self.waitForProgress(ranks[0], iterations: 2) else { return [] }
            ranks[1].signal(SIGKILL)
            let killedAt = Deadline.now()
            return [Self.finish(ranks[0], since: killedAt), Self.finish(ranks[2], since: killedAt), Self.finish(ranks[1], since: killedAt)]
        }
        try #require(outcome.count == 3, "rank 0 never made progress")
        for survivor in outcome[0..<2] {
            #expect(survivor.code == 3, "\(survivor.output)")
            #expect(survivor.output.contains("ERROR peerLost 1"))
            #expect(survivor.seconds < 10, "peerLost must come promptly, not at the 60 s deadline")
        }
        #expect(outcome[2].code == 128 + SIGKILL)
    }

    @Test func aStoppedRankMakesTheOthersTimeOutAtTheDeadline() async throws {
        let server = try RendezvousServer(attempt: 1, token: "s", worldSize: 3)
        defer { server.shutdown() }
        let outcome = try await onThread { () -> [(code: Int32, output: String, seconds: Double)] in
            let ranks = try Self.startRanks(3, ["--sizes", "1M", "--iterations", "5000", "--warmup", "0", "--timeout", "2", "--progress"],
                                            server: server, token: "s")
            guard Self.waitForProgress(ranks[0], iterations: 2) else { return [] }
            ranks[1].signal(SIGSTOP)
            let stoppedAt = Deadline.now()
            let results = [Self.finish(ranks[0], since: stoppedAt), Self.finish(ranks[2], since: stoppedAt)]
            ranks[1].signal(SIGKILL)
            ranks[1].wait()
            return results
        }
        try #require(outcome.count == 2, "rank 0 never made progress")
        for survivor in outcome {
            #expect(survivor.code == 4, "\(survivor.output)")
            #expect(survivor.output.contains("ERROR timeout"))
            #expect(survivor.seconds < 12)
        }
    }

    @Test func benchmarkRunsRealProcessesAndChecksTheirSums() async throws {
        // 4, 28, 4000 and 4000012 bytes: 1, 7, 1000 and 1_000_003 floats (not divisible by 3 ranks or the chunks).
        let output = try await onThread { () -> String in
            let bench = try ChildProcess(path: Self.executable,
                                         arguments: ["bench", "allreduce", "--ranks", "3", "--sizes", "4,28,4000,4000012",
                                                     "--iterations", "3", "--warmup", "1", "--json"],
                                         environment: ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" },
                                         captureStdout: true)
            let text = bench.readAll()
            return ChildProcess.exitCode(bench.wait()) == 0 ? text : "exit failure: \(text)"
        }
        let rows = try JSONDecoder().decode([BenchmarkResult].self, from: Data(output.utf8))
        #expect(rows.map(\.bytes) == [4, 28, 4000, 4_000_012])
        #expect(rows.allSatisfy { $0.ranks == 3 && $0.dtype == "float32" && $0.seconds > 0 && $0.busbwGBps > 0 })
    }

    @Test(arguments: ["bfloat16", "int64"])
    func benchmarkOtherTypesOverProcesses(dtype: String) async throws {
        let code = try await onThread { () -> Int32 in
            let bench = try ChildProcess(path: Self.executable,
                                         arguments: ["bench", "allreduce", "--ranks", "2", "--sizes", "8,1M", "--dtype", dtype,
                                                     "--iterations", "2", "--warmup", "0"],
                                         environment: ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" },
                                         captureStdout: true)
            _ = bench.readAll()
            return ChildProcess.exitCode(bench.wait())
        }
        #expect(code == 0)
    }
}
