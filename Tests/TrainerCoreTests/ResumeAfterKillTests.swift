import Collectives
import Foundation
import RingmasterModel
import RingmasterTestKit
import SystemUtilities
import Testing

/// Real `ringmaster-train` processes over real TCP collectives: a rank killed with SIGKILL at
/// different points, the attempt resumed from the newest step every rank has durably written, ends
/// with parameters bit-identical to an uninterrupted run.
@Suite(.serialized, .timeLimit(.minutes(3))) struct ResumeAfterKill {
    static let layout = Parallelism(data: 2, pipeline: 2, tensor: 2)
    static let steps = 12

    struct Attempt {
        var server: RendezvousServer
        var ranks: [ChildProcess]
    }

    static func launch(attempt: Int, dir: String, resume: Int?, control: (rank: Int, path: String)?) throws -> Attempt {
        let token = AttemptToken.generate().rawValue
        let server = try RendezvousServer(attempt: attempt, token: token, worldSize: layout.worldSize)
        let exe = try BuiltProducts.executable("ringmaster-train")
        let base = ProcessInfo.processInfo.environment
        let ranks = try (0..<layout.worldSize).map { rank in
            let c = layout.coordinates(of: rank)
            var env = base
            env["RANK"] = "\(rank)"
            env["WORLD_SIZE"] = "\(layout.worldSize)"
            env["RINGMASTER_TP_SIZE"] = "\(layout.tensor)"
            env["RINGMASTER_PP_SIZE"] = "\(layout.pipeline)"
            env["RINGMASTER_DP_SIZE"] = "\(layout.data)"
            env["RINGMASTER_TP_RANK"] = "\(c.tp)"
            env["RINGMASTER_PP_RANK"] = "\(c.pp)"
            env["RINGMASTER_DP_RANK"] = "\(c.dp)"
            env["RINGMASTER_RENDEZVOUS"] = server.address
            env["RINGMASTER_TOKEN"] = token
            env["RINGMASTER_ATTEMPT"] = "\(attempt)"
            env["RINGMASTER_CHECKPOINT_DIR"] = dir
            env["RINGMASTER_RESUME_STEP"] = resume.map(String.init) ?? ""
            env["RINGMASTER_CONTROL"] = control?.rank == rank ? control?.path : nil
            return try ChildProcess([exe, "--preset", "micro", "--steps", "\(steps)", "--batch", "8", "--micro-batches", "2",
                                     "--seed", "7", "--checkpoint-every", "3", "--log-every", "0", "--print-hash"], environment: env)
        }
        return Attempt(server: server, ranks: ranks)
    }

    /// Waits for every rank to exit; returns the exit statuses.
    static func finish(_ attempt: Attempt) async -> [Int32] {
        var statuses: [Int32] = []
        for r in attempt.ranks { statuses.append(await r.exit()) }
        attempt.server.shutdown()
        return statuses
    }

    static func hashes(_ attempt: Attempt) async -> [String] {
        var out: [String] = []
        for (rank, r) in attempt.ranks.enumerated() {
            let line = await r.line { $0.hasPrefix("parameter-hash rank \(rank) ") }
            out.append(line.map { String($0.split(separator: " ").last!) } ?? "missing")
        }
        return out
    }

    /// The newest step of which every rank wrote a complete shard (what the controller would commit).
    static func newestCompleteStep(_ dir: String) -> Int? {
        let fm = FileManager.default
        let steps = ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).compactMap { name -> Int? in
            name.hasPrefix("step-") ? Int(name.dropFirst(5)) : nil
        }
        return steps.sorted().last { step in
            (0..<layout.worldSize).allSatisfy { fm.fileExists(atPath: "\(dir)/step-\(step)/rank-\($0)/MANIFEST.json") }
        }
    }

    /// Reads rank reports until `line` arrives (on a dedicated thread, never the cooperative pool).
    static func waitForReport(_ listener: DatagramListener, _ line: String) async -> Bool {
        (try? await onDedicatedThread(name: "reports") {
            while let got = listener.receive() {
                if got == line { return true }
            }
            return false
        }) ?? false
    }

    func referenceHashes() async throws -> [String] {
        try await withTemporaryDirectory { dir in
            let run = try Self.launch(attempt: 1, dir: dir, resume: nil, control: nil)
            let hashes = await Self.hashes(run)
            let statuses = await Self.finish(run)
            #expect(statuses == Array(repeating: 0, count: 8), "\(run.ranks.map(\.standardError))")
            return hashes
        }
    }

    @Test(arguments: [(rank: 0, afterStep: 7), (rank: 5, afterStep: 8), (rank: 3, afterStep: 10)])
    func killedRankResumesBitIdentical(kill: (rank: Int, afterStep: Int)) async throws {
        let reference = try await referenceHashes()
        #expect(!reference.contains("missing"))
        try await withTemporaryDirectory { dir in
            let listener = DatagramListener(path: "\(dir)/control-\(kill.rank).sock")
            let first = try Self.launch(attempt: 1, dir: "\(dir)/ckpt", resume: nil,
                                        control: (kill.rank, listener.path))
            #expect(await Self.waitForReport(listener, "step \(kill.afterStep)"))
            first.ranks[kill.rank].signal(SIGKILL)
            let statuses = await Self.finish(first)
            // The killed rank died by its signal; every other rank noticed and exited with an error.
            #expect(statuses.filter { $0 != 0 }.count == 8, "statuses \(statuses)")

            let resume = Self.newestCompleteStep("\(dir)/ckpt")
            // The victim may run a little past the report before the signal lands, and the signal may land
            // while its async save of the newest checkpoint is in flight (at most one is: the one before
            // is complete). So the newest complete step is the newest checkpoint before the kill or the
            // one before it; the other ranks finish their in-flight saves before exiting.
            let newest = try #require(resume, "no step was complete on every rank")
            #expect(newest % 3 == 0 && newest >= ((kill.afterStep - 1) / 3 - 1) * 3 && newest < Self.steps)
            let second = try Self.launch(attempt: 2, dir: "\(dir)/ckpt", resume: resume, control: nil)
            let hashes = await Self.hashes(second)
            let exits = await Self.finish(second)
            #expect(exits == Array(repeating: 0, count: 8), "\(second.ranks.map(\.standardError))")
            #expect(hashes == reference, "resumed from \(String(describing: resume))")
        }
    }
}

@Suite(.timeLimit(.minutes(2))) struct CorruptResume {
    @Test func aCorruptShardMakesTheRankExitWith86() async throws {
        try await withTemporaryDirectory { dir in
            let exe = try BuiltProducts.executable("ringmaster-train")
            let common = ["--preset", "micro", "--batch", "8", "--checkpoint-every", "3", "--checkpoint-dir", dir,
                          "--sync-checkpoint", "--log-every", "0"]
            let first = try await ChildProcess.run([exe] + common + ["--steps", "6"])
            #expect(first.status == 0, "\(first.standardError)")
            let shard = "\(dir)/step-6/rank-0/parameters.bin"
            var bytes = try Data(contentsOf: URL(fileURLWithPath: shard))
            bytes[bytes.count / 2] ^= 0x40
            try bytes.write(to: URL(fileURLWithPath: shard))
            let resumed = try await ChildProcess.run([exe] + common + ["--steps", "9", "--resume-step", "6"])
            #expect(resumed.status == 86)
            #expect(resumed.standardError.contains("checkpoint step 6 is corrupt: \(shard)"))
            // The step before verifies and resumes.
            let older = try await ChildProcess.run([exe] + common + ["--steps", "9", "--resume-step", "3"])
            #expect(older.status == 0, "\(older.standardError)")
        }
    }
}
