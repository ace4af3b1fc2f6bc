import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import RingmasterTestKit
import SystemUtilities
import Testing

/// The PyTorch job of `TorchResilienceTests` with `warm: {rejoin: …}`: a killed rank, a hung rank and a killed
/// node are each recovered in process — the survivors abandon their step and rejoin the next attempt without
/// exiting, the lost ranks start warm and take the state of a data-parallel peer's memory — and the job ends
/// with the uninterrupted run's parameters bit for bit and its sample history. A failure during a rejoin (a
/// survivor that cannot answer, a second rank lost, the controller stopping) falls back to the cold restart
/// from the newest committed checkpoint, just as bit-identically.
@Suite(.serialized, .timeLimit(.minutes(12)),
       .enabled(if: torchWheel != nil, "no PyTorch wheel on this machine (/opt/wheels/torch-*.whl): skipped"))
struct TorchRejoinTests {
    static let steps = 400

    static func rejoinManifest(_ name: String, python: String, dir: TemporaryDirectory, rejoin: String = "20s") throws -> String {
        try TorchResilienceTests.manifest(
            name, python: python, dir: dir, steps: steps, failure: "maxRestarts: 6, backoff: 0s, stallTimeout: 10s",
            extra: "warm: {preload: [ringmaster.torch.warm], refillAfter: 1s, rejoin: \(rejoin)}")
    }

    /// A controller over 4 local nodes that has run the reference job: its parameter hashes and sample ids.
    static func started(python: String, dir: TemporaryDirectory) async throws
        -> (ControllerProcess, hashes: [String], table: [Int: [Int: [Int]]])
    {
        let c = try await ControllerProcess.start(cluster: try localCluster(dir), stateDirectory: dir.file("state"))
        try await c.waitForReadyNodes(4)
        let (hashes, table) = try await reference(c, python: python, dir: dir)
        return (c, hashes, table)
    }

    /// The reference run's parameter hashes and per-step sample ids.
    static func reference(_ c: ControllerProcess, python: String, dir: TemporaryDirectory) async throws
        -> (hashes: [String], table: [Int: [Int: [Int]]])
    {
        let reference = try await c.submit(try TorchResilienceTests.manifest("reference", python: python, dir: dir, steps: steps)).id
        let finished = try await c.waitForJob(reference, within: .seconds(180))
        #expect(finished.state == .succeeded, "\(finished.reason ?? "")")
        let hashes = try await FaultTests.hashes(c, reference)
        #expect(hashes.count == TorchResilienceTests.ranks)
        return (hashes, TorchResilienceTests.reference(TorchResilienceTests.samples(dir.file("reference.samples")), steps: steps))
    }

    /// The `recovery.rejoin` decisions of the job: the resume step of each rejoin, nil for a cold fallback.
    static func decisions(_ c: ControllerProcess, _ job: String) async throws -> [(step: Int?, message: String)] {
        try await c.events(job: job).filter { $0.kind == "recovery.rejoin" && !$0.message.contains("asking") }.map { e in
            let step = e.message.components(separatedBy: "in process at step ").dropFirst().first?
                .prefix { $0.isNumber }
            return (step.flatMap { Int($0) }, e.message)
        }
    }

    /// Waits until attempt `n` stepped and reached `step` (a checkpoint of it committed).
    static func reach(_ c: ControllerProcess, _ job: String, attempt n: Int, step: Int) async throws {
        _ = try await TorchResilienceTests.commit(c, job, attempt: n, atLeast: step)
    }

    @Test func aKilledRankAHungRankAndAKilledNodeAreRecoveredInProcessBitIdentically() async throws {
        let python = try await torchPython()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (c, expected, table) = try await Self.started(python: python, dir: dir)

        let job = try await c.submit(try Self.rejoinManifest("rejoin", python: python, dir: dir)).id
        try await Self.reach(c, job, attempt: 1, step: 40)
        try await c.chaos(["kill-rank", job, "--rank", "1"])
        try await Self.reach(c, job, attempt: 2, step: 0)
        try await c.chaos(["hang-rank", job, "--rank", "2"])
        try await Self.reach(c, job, attempt: 3, step: 0)
        let lostNode = try await TorchResilienceTests.node(of: 3, c, job)
        try await c.chaos(["kill-node", job, "--node", lostNode])

        let done = try await c.waitForJob(job, within: .seconds(300))
        #expect(done.state == .succeeded, "\(done.reason ?? "")")
        #expect(done.restarts == 3)
        #expect(try await FaultTests.hashes(c, job) == expected)
        let full = try await c.detail(job)
        #expect(full.attempts.count == 4, "\(full.attempts)")
        let problems = TorchResilienceTests.historyProblems(TorchResilienceTests.samples(dir.file("rejoin.samples")),
                                                            reference: table, steps: Self.steps, attempts: full.attempts)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        // Every recovery was a rejoin: decided at a step the survivors held, no checkpoint read, no step lost.
        let decisions = try await Self.decisions(c, job)
        #expect(decisions.count == 3 && decisions.allSatisfy { $0.step != nil }, "\(decisions.map(\.message))")
        for (n, d) in zip(2..., decisions) where n - 1 < full.attempts.count {
            #expect(full.attempts[n - 1].resumeStep == d.step, "attempt \(n) resumed from the survivors' step")
        }
        let events = try await c.events(job: job)
        for e in events where e.kind == "recovery.complete" {
            print("rejoin recovery: \(e.message)")
            #expect(e.message.contains(", 0 steps lost"), "\(e.message)")
        }
        // The survivors kept their processes: the same pids across the rejoins.
        var rejoined: [Int] = []
        for n in 2...4 {
            let logs = try await c.cli(["logs", job, "--attempt", String(n), "--tail", "100000"]).output
            rejoined.append(logs.components(separatedBy: " rejoins in attempt \(n) ").count - 1)
        }
        #expect(rejoined == [3, 3, 2], "survivors that printed `rejoins in attempt N` in attempts 2, 3, 4")
        #expect(await c.stop() == 0)
    }

    @Test func aFailureDuringTheRejoinFallsBackToAColdRestartFromTheCheckpoint() async throws {
        let python = try await torchPython()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let (c, expected, table) = try await Self.started(python: python, dir: dir)

        let job = try await c.submit(try Self.rejoinManifest("fallback", python: python, dir: dir, rejoin: "60s")).id
        try await Self.reach(c, job, attempt: 1, step: 40)
        // A stopped survivor cannot answer: the rejoin waits on it, and a second rank lost meanwhile ends it.
        try await c.chaos(["hang-rank", job, "--rank", "3"])
        try await c.chaos(["kill-rank", job, "--rank", "1"])
        _ = try await c.waitForEvent(job: job) { $0.kind == "recovery.rejoin" && $0.message.contains("asking") }
        try await c.chaos(["kill-rank", job, "--rank", "2"])
        let fallback = try await c.waitForEvent(job: job) { $0.kind == "recovery.rejoin" && $0.message.contains("no in-process rejoin") }
        #expect(fallback.message.contains("during the rejoin"), "\(fallback.message)")
        try await Self.reach(c, job, attempt: 2, step: 0)
        let second = try #require(try await c.detail(job).attempts.last)
        #expect(second.resumeStep.map { $0 % 10 == 0 } == true, "cold: resumed from a checkpoint, \(second.resumeStep ?? -1)")

        // The controller stopping during a rejoin: the survivors stop with it, and the next controller restarts cold.
        try await c.chaos(["hang-rank", job, "--rank", "3"])
        try await c.chaos(["kill-rank", job, "--rank", "0"])
        _ = try await c.waitForEvent(job: job) {
            $0.kind == "recovery.rejoin" && $0.message.contains("asking") && $0.message.contains("attempt 2 ")
        }
        let pids = try await c.detail(job).ranks.compactMap(\.pid)
        #expect(await c.stop() == 0)
        for pid in pids { #expect(!processIsAlive(pid), "rank pid \(pid) outlived the controller") }
        let again = try await ControllerProcess.start(cluster: try localCluster(dir), stateDirectory: dir.file("state"))
        let done = try await again.waitForJob(job, within: .seconds(300))
        #expect(done.state == .succeeded, "\(done.reason ?? "")")
        #expect(try await FaultTests.hashes(again, job) == expected)
        let full = try await again.detail(job)
        let problems = TorchResilienceTests.historyProblems(TorchResilienceTests.samples(dir.file("fallback.samples")),
                                                            reference: table, steps: Self.steps, attempts: full.attempts)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        let decisions = try await Self.decisions(again, job)
        #expect(decisions.count == 2 && decisions.allSatisfy { $0.step == nil }, "\(decisions.map(\.message))")
        #expect(decisions.last?.message.contains("the controller shuts down") == true)
        #expect(await again.stop() == 0)
    }
}
