#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SystemUtilities
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
            return try ChildProcess([executable, "bench", "allreduce-rank"] + arguments, environment: env, stderr: .inherit)
        }
    }

    /// Waits until rank 0 has reported `iterations` timed iterations (bounded by the output: the worker
    /// runs a finite number of iterations, then exits and closes it).
    static func waitForProgress(_ child: ChildProcess, iterations: Int) async -> Bool {
        await child.line(where: { $0.hasPrefix("PROGRESS") }, occurrence: iterations) != nil
    }

    /// Waits for a child and returns (exit status, stdout, seconds since `since`).
    static func finish(_ child: ChildProcess, since: Deadline) async -> (code: Int32, output: String, seconds: Double) {
        let code = await child.exit()
        return (code, child.standardOutput, Double(Deadline.now().nanoseconds - since.nanoseconds) / 1e9)
    }

    @Test func executableIsBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: Self.executable), "build the package first: \(Self.executable)")
    }

    @Test func aKilledRankIsReportedAsPeerLostPromptly() async throws {
        let server = try RendezvousServer(attempt: 1, token: "k", worldSize: 3)
        defer { server.shutdown() }
        let ranks = try Self.startRanks(3, ["--sizes", "8M", "--iterations", "400", "--warmup", "0", "--timeout", "60", "--progress"],
                                        server: server, token: "k")
        var outcome: [(code: Int32, output: String, seconds: Double)] = []
        if await Self.waitForProgress(ranks[0], iterations: 2) {
            ranks[1].signal(SIGKILL)
            let killedAt = Deadline.now()
            for r in [0, 2, 1] { outcome.append(await Self.finish(ranks[r], since: killedAt)) }
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
        let ranks = try Self.startRanks(3, ["--sizes", "1M", "--iterations", "5000", "--warmup", "0", "--timeout", "2", "--progress"],
                                        server: server, token: "s")
        var outcome: [(code: Int32, output: String, seconds: Double)] = []
        if await Self.waitForProgress(ranks[0], iterations: 2) {
            ranks[1].signal(SIGSTOP)
            let stoppedAt = Deadline.now()
            for r in [0, 2] { outcome.append(await Self.finish(ranks[r], since: stoppedAt)) }
        }
        ranks[1].signal(SIGKILL)
        await ranks[1].exit()
        try #require(outcome.count == 2, "rank 0 never made progress")
        for survivor in outcome {
            #expect(survivor.code == 4, "\(survivor.output)")
            #expect(survivor.output.contains("ERROR timeout"))
            #expect(survivor.seconds < 12)
        }
    }

    @Test func benchmarkRunsRealProcessesAndChecksTheirSums() async throws {
        // 4, 28, 4000 and 4000012 bytes: 1, 7, 1000 and 1_000_003 floats (not divisible by 3 ranks or the chunks).
        let bench = try await ChildProcess.run([Self.executable, "bench", "allreduce", "--ranks", "3", "--sizes", "4,28,4000,4000012",
                                                "--iterations", "3", "--warmup", "1", "--json"])
        #expect(bench.succeeded, "\(bench.output)")
        let rows = try JSONDecoder().decode([BenchmarkResult].self, from: Data(bench.standardOutput.utf8))
        #expect(rows.map(\.bytes) == [4, 28, 4000, 4_000_012])
        #expect(rows.allSatisfy { $0.ranks == 3 && $0.dtype == "float32" && $0.seconds > 0 && $0.busbwGBps > 0 })
    }

    @Test(arguments: ["bfloat16", "int64"])
    func benchmarkOtherTypesOverProcesses(dtype: String) async throws {
        let bench = try await ChildProcess.run([Self.executable, "bench", "allreduce", "--ranks", "2", "--sizes", "8,1M", "--dtype", dtype,
                                                "--iterations", "2", "--warmup", "0"])
        #expect(bench.status == 0, "\(bench.output)")
    }
}
