import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import RingmasterTestKit
import SystemUtilities
import Testing

/// The PyTorch job of `TorchResilienceTests` with `warm: {preload: [torch, ringmaster.torch]}`: every node of
/// an attempt and a warm spare keep interpreters that imported torch, and a restart's ranks run in them. A
/// killed rank, a hung rank, then a killed node (its ranks move to the spare), end with the uninterrupted run's
/// parameters bit for bit and its sample history, and every rank of the three restarts ran in a warm interpreter.
@Suite(.serialized, .timeLimit(.minutes(10)),
       .enabled(if: torchWheel != nil, "no PyTorch wheel on this machine (/opt/wheels/torch-*.whl): skipped"))
struct TorchWarmTests {
    /// The ranks of attempt `n` that said they started in a warm interpreter, and all that said they started.
    static func starts(_ c: ControllerProcess, _ job: String, attempt n: Int) async throws -> (warm: Int, all: Int) {
        let lines = try await c.cli(["logs", job, "--attempt", "\(n)", "--tail", "10000"]).output.split(separator: "\n")
            .filter { $0.contains(" attempt \(n): steps ") }
        for line in try await c.cli(["logs", job, "--attempt", "\(n)", "--tail", "10000"]).output.split(separator: "\n")
        where line.contains(" start-up ") {
            print("attempt \(n): \(line)")
        }
        return (lines.filter { $0.contains("(warm interpreter)") }.count, lines.count)
    }

    @Test func warmRestartsAfterAKilledRankAHungRankAndAKilledNodeEndWithTheUninterruptedParameters() async throws {
        let python = try await torchPython()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let c = try await ControllerProcess.start(cluster: try localCluster(dir), stateDirectory: dir.file("state"))
        try await c.waitForReadyNodes(4)
        // Long enough for two restarts' pools to refill before the job ends (≈ 25 ms a step here).
        let steps = 700

        let reference = try await c.submit(try TorchResilienceTests.manifest("reference", python: python, dir: dir, steps: steps)).id
        let finished = try await c.waitForJob(reference, within: .seconds(180))
        #expect(finished.state == .succeeded, "\(finished.reason ?? "")")
        let expected = try await FaultTests.hashes(c, reference)
        #expect(expected.count == TorchResilienceTests.ranks)
        let table = TorchResilienceTests.reference(TorchResilienceTests.samples(dir.file("reference.samples")), steps: steps)

        let job = try await c.submit(try TorchResilienceTests.manifest(
            "warm", python: python, dir: dir, steps: steps, failure: "maxRestarts: 4, backoff: 0s, stallTimeout: 10s",
            extra: "warm: {preload: [ringmaster.torch.warm], refillAfter: 2s}")).id
        // The first attempt starts cold (no pool yet); its nodes and a spare fill their pools meanwhile.
        _ = try await TorchResilienceTests.commit(c, job, attempt: 1, atLeast: 40)
        try await c.chaos(["kill-rank", job, "--rank", "1"])
        _ = try await TorchResilienceTests.commit(c, job, attempt: 2)
        // The pools the restart used refill (after refillAfter), and the spare keeps its own: every node that
        // may take the next attempt's ranks holds 2 waiting interpreters (`ringmaster nodes`' WARM column).
        func poolsFull() async throws {
            let used = Set(try await c.detail(job).ranks.map(\.node))
            try await eventually("every pool full", within: .seconds(120), every: .milliseconds(100)) {
                let nodes = try await c.cliJSON(["nodes"], as: [NodeView].self)
                let warm = nodes.filter { ($0.warmInterpreters ?? 0) >= 2 }.map(\.id)
                return used.isSubset(of: warm) && warm.count >= 3
            }
        }
        try await poolsFull()
        try await c.chaos(["hang-rank", job, "--rank", "2"])
        _ = try await TorchResilienceTests.commit(c, job, attempt: 3)
        try await poolsFull()
        let lostNode = try await TorchResilienceTests.node(of: 3, c, job)
        try await c.chaos(["kill-node", job, "--node", lostNode])

        let done = try await c.waitForJob(job, within: .seconds(240))
        #expect(done.state == .succeeded, "\(done.reason ?? "")")
        #expect(done.restarts == 3)
        #expect(try await FaultTests.hashes(c, job) == expected)
        let full = try await c.detail(job)
        #expect(full.attempts.count == 4, "\(full.attempts)")
        if full.attempts.count == 4 { #expect(!full.attempts[3].nodes.contains(lostNode), "\(full.attempts[3].nodes)") }
        let problems = TorchResilienceTests.historyProblems(TorchResilienceTests.samples(dir.file("warm.samples")),
                                                            reference: table, steps: steps, attempts: full.attempts)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")

        // The first attempt's ranks may or may not find an interpreter (the pools start filling with it).
        #expect(try await Self.starts(c, job, attempt: 1).all == 4)
        for n in [2, 3, 4] {
            let started = try await Self.starts(c, job, attempt: n)
            #expect(started == (4, 4), "attempt \(n): \(started.warm) of \(started.all) ranks started warm")
        }
        let events = try await c.events(job: job)
        for e in events where e.kind == "recovery.complete" { print("warm recovery: \(e.message)") }
        #expect(await c.stop() == 0)
    }
}
