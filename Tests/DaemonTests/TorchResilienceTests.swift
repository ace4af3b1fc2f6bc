import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import RingmasterSSHTestKit
import RingmasterTestKit
import SystemUtilities
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A PyTorch DDP language model (`Manifests/jobs/scripts/torch_resilient.py`: gradients over the ring
/// collectives through the `ringmaster.torch` DDP hook, `ResumableSampler`, async `Checkpointer`) under
/// the fault manager with real processes. A killed rank, a corrupt newest checkpoint, a hung rank, a
/// killed node and a controller killed with `kill -9`, one after the other in one job: it ends with the
/// parameters of an uninterrupted run bit for bit, and its final training history — for each step the
/// samples of the last attempt that reached it — is the uninterrupted run's sequence of global batches,
/// none skipped or repeated. A `ringmaster.section` longer than the stall timeout is not a hang.
@Suite(.serialized, .timeLimit(.minutes(10)),
       .enabled(if: torchWheel != nil, "no PyTorch wheel on this machine (/opt/wheels/torch-*.whl): skipped"))
struct TorchResilienceTests {
    static let steps = 100
    static let ranks = 4
    /// The script's defaults: a corpus of 2048 sequences, global batch 32 (8 per rank).
    static let dataset = 2048, globalBatch = 32

    /// A job of `torch_resilient.py` on 2 nodes × 2 ranks; ranks import the repository's `python/`.
    static func manifest(_ name: String, python: String, dir: TemporaryDirectory, steps: Int = steps,
                         flags: [String] = [], failure: String = "maxRestarts: 8, backoff: 1s, stallTimeout: 10s",
                         extraEnv: String = "", extra: String = "") throws -> String {
        let argv = [python, "\(manifests)/jobs/scripts/torch_resilient.py", "--steps", "\(steps)", "--checkpoint-every", "10",
                    "--print-hash", "--sample-log", dir.file("\(name).samples")] + flags
        return try dir.write("\(name).yaml", """
            name: \(name)
            command: [\(argv.map { "\"\($0)\"" }.joined(separator: ", "))]
            env: {PYTHONUNBUFFERED: "1", OMP_NUM_THREADS: "1", PYTHONPATH: \(BuiltProducts.packageRoot)/python\(extraEnv)}
            parallelism: {data: 4}
            checkpoint: {every: 10, keep: 3, dir: \(dir.file("ckpt"))}
            failure: {\(failure)}
            \(extra)
            """)
    }

    /// One line of the sample log: `step S rank R attempt A ids i,j,…`.
    struct Sample: Hashable {
        var step, rank, attempt: Int
        var ids: [Int]
    }

    /// The whole lines of a sample log (a rank killed mid-write may leave a partial last line).
    static func samples(_ path: String) -> [Sample] {
        let text = POSIX.readText(path) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let w = line.split(separator: " ")
            guard w.count == 8, w[0] == "step", w[2] == "rank", w[4] == "attempt", w[6] == "ids",
                  let s = Int(w[1]), let r = Int(w[3]), let a = Int(w[5]) else { return nil }
            let ids = w[7].split(separator: ",").compactMap { Int($0) }
            guard ids.count == globalBatch / ranks else { return nil }
            return Sample(step: s, rank: r, attempt: a, ids: ids)
        }
    }

    /// step → rank → sample ids of an uninterrupted run, checked to be one attempt, every step and rank
    /// once, and each epoch's global batches a partition of the corpus.
    static func reference(_ log: [Sample], steps: Int) -> [Int: [Int: [Int]]] {
        var table: [Int: [Int: [Int]]] = [:]
        for s in log {
            #expect(s.attempt == 1)
            #expect(table[s.step]?[s.rank] == nil, "step \(s.step) rank \(s.rank) logged twice")
            table[s.step, default: [:]][s.rank] = s.ids
        }
        #expect(table.keys.sorted() == Array(0..<steps))
        #expect(table.values.allSatisfy { $0.keys.sorted() == Array(0..<ranks) })
        let perEpoch = dataset / globalBatch
        let epoch = (0..<min(perEpoch, steps)).flatMap { s in (0..<ranks).flatMap { table[s]?[$0] ?? [] } }
        if steps >= perEpoch { #expect(epoch.sorted() == Array(0..<dataset), "epoch 0 is not a permutation of the corpus") }
        return table
    }

    /// What is wrong with the final training history of an interrupted run: for each step, the entries
    /// of the last attempt that reached it must be one per rank with the reference's ids; the attempts
    /// that make up the history follow each other; every attempt trained a gap-free run of steps from
    /// the step it resumed at, each step once per rank.
    static func historyProblems(_ log: [Sample], reference: [Int: [Int: [Int]]], steps: Int,
                                attempts: [AttemptView]) -> [String] {
        var problems: [String] = []
        let resume = Dictionary(uniqueKeysWithValues: attempts.map { ($0.number, $0.resumeStep ?? 0) })
        // Per attempt and rank: the steps it trained, in log order.
        var trained: [Int: [Int: [Int]]] = [:]
        for s in log { trained[s.attempt, default: [:]][s.rank, default: []].append(s.step) }
        for (attempt, byRank) in trained.sorted(by: { $0.key < $1.key }) {
            guard let from = resume[attempt] else { problems.append("attempt \(attempt) is not one of the job's"); continue }
            for (rank, list) in byRank.sorted(by: { $0.key < $1.key }) where list != Array(from..<(from + list.count)) {
                problems.append("attempt \(attempt) rank \(rank) resumed at \(from) but trained steps \(list)")
            }
        }
        var previous = 0
        for step in 0..<steps {
            let entries = log.filter { $0.step == step }
            guard let last = entries.map(\.attempt).max() else { problems.append("step \(step) never trained"); continue }
            if last < previous { problems.append("step \(step) last trained by attempt \(last), after attempt \(previous)") }
            previous = last
            let final = entries.filter { $0.attempt == last }
            if final.map(\.rank).sorted() != Array(0..<ranks) {
                problems.append("step \(step) attempt \(last): ranks \(final.map(\.rank).sorted())")
            }
            for s in final where s.ids != reference[step]?[s.rank] {
                problems.append("step \(step) rank \(s.rank) attempt \(last) trained \(s.ids), the reference \(reference[step]?[s.rank] ?? [])")
            }
        }
        return problems
    }

    /// Waits for attempt `n` to step, then for a checkpoint of at least `atLeast` committed by it; returns its step.
    static func commit(_ c: ControllerProcess, _ job: String, attempt n: Int, atLeast: Int = 0) async throws -> Int {
        let stepping = try await c.waitForEvent(job: job) { $0.kind == "attempt.stepping" && $0.message.hasPrefix("attempt \(n) of") }
        let id = stepping.attempt
        let committed = try await c.waitForEvent(job: job) {
            $0.kind == "checkpoint.committed" && $0.attempt == id && (RestartTests.step(of: $0) ?? 0) >= atLeast
        }
        return try #require(RestartTests.step(of: committed))
    }

    /// The node of `rank` in the job's current attempt.
    static func node(of rank: Int, _ c: ControllerProcess, _ job: String) async throws -> String {
        try #require(try await c.detail(job).ranks.first { $0.rank == rank }?.node)
    }

    @Test func aSectionLongerThanTheStallTimeoutIsNotAHang() async throws {
        let python = try await torchPython()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let c = try await ControllerProcess.start(cluster: try localCluster(dir, nodes: 2), stateDirectory: dir.file("state"))
        try await c.waitForReadyNodes(2)
        // Every rank evaluates for 15 s after step 10 inside a 60 s section; the stall timeout is 10 s.
        let job = try await c.submit(try Self.manifest("eval", python: python, dir: dir, steps: 20,
                                                        flags: ["--eval-every", "10", "--eval-seconds", "15", "--eval-timeout", "60s"])).id
        let done = try await c.waitForJob(job, within: .seconds(180))
        #expect(done.state == .succeeded, "\(done.reason ?? "")")
        #expect(done.restarts == 0)
        let events = try await c.events(job: job)
        #expect(!events.contains { $0.kind == "failure.detected" }, "\(events.filter { $0.kind == "failure.detected" }.map(\.message))")
        let logs = try await c.cli(["logs", job, "--tail", "1000"]).output
        for rank in 0..<Self.ranks { #expect(logs.contains("[rank \(rank)] rank \(rank): eval after step 10: loss"), "\(logs)") }
        #expect(await c.stop() == 0)
    }

    @Test func everyFailureEndsWithTheUninterruptedParametersAndSampleHistory() async throws {
        let python = try await torchPython()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let cluster = try localCluster(dir)
        let state = dir.file("state")
        var c = try await ControllerProcess.start(cluster: cluster, stateDirectory: state)
        try await c.waitForReadyNodes(4)

        let reference = try await c.submit(try Self.manifest("reference", python: python, dir: dir)).id
        let finished = try await c.waitForJob(reference, within: .seconds(180))
        #expect(finished.state == .succeeded, "\(finished.reason ?? "")")
        let expected = try await FaultTests.hashes(c, reference)
        #expect(expected.count == Self.ranks)
        // Data-parallel replicas hold the same parameters.
        #expect(Set(expected.map { $0.split(separator: " ").last ?? "" }).count == 1, "\(expected)")
        let table = Self.reference(Self.samples(dir.file("reference.samples")), steps: Self.steps)

        let job = try await c.submit(try Self.manifest("chaos", python: python, dir: dir)).id
        // 1. A killed rank; while the job is between attempts (its ranks stopped, so their teardown takes
        //    the grace period), its newest committed step is corrupted: the next attempt finds it corrupt
        //    and the one after resumes from the step before.
        _ = try await Self.commit(c, job, attempt: 1, atLeast: 20)
        let killedNode = try await Self.node(of: 1, c, job)
        try await c.failFrozen(job, rank: 1)
        let detail = try await c.detail(job).job
        let corrupt = try #require(detail.checkpoint)
        let folder = try #require(detail.checkpointDir)
        let shard = "\(folder)/step-\(corrupt)/rank-2/model.bin"
        let handle = try #require(FileHandle(forUpdatingAtPath: shard), "\(shard)")
        try handle.seek(toOffset: 100)
        try handle.write(contentsOf: Data(repeating: 0xA5, count: 64))
        try handle.close()
        // 2. A hung rank (SIGSTOP): no step for the 10 s stall timeout.
        _ = try await Self.commit(c, job, attempt: 3)
        let hungNode = try await Self.node(of: 2, c, job)
        try await c.chaos(["hang-rank", job, "--rank", "2"])
        // 3. A killed node: its agent and ranks; the ranks move to a free node.
        _ = try await Self.commit(c, job, attempt: 4)
        let lostNode = try await Self.node(of: 3, c, job)
        try await c.chaos(["kill-node", job, "--node", lostNode])
        // 4. The controller killed with kill -9: its agents stop the ranks; a new controller on the same
        //    state directory continues the job from its newest checkpoint.
        _ = try await Self.commit(c, job, attempt: 5)
        let agents = try await c.childPids()
        let pids = try await c.detail(job).ranks.compactMap(\.pid)
        #expect(pids.count == Self.ranks)
        await c.kill9()
        for pid in agents + pids {
            try await eventually("pid \(pid) to end", within: .seconds(15), every: .milliseconds(50)) { !processIsAlive(pid) }
        }
        c = try await ControllerProcess.start(cluster: cluster, stateDirectory: state)

        let done = try await c.waitForJob(job, within: .seconds(180))
        #expect(done.state == .succeeded, "\(done.reason ?? "")")
        #expect(done.restarts == 5)
        #expect(try await FaultTests.hashes(c, job) == expected)

        let full = try await c.detail(job)
        let attempts = full.attempts
        #expect(attempts.count == 6, "\(attempts)")
        if attempts.count == 6 {
            #expect(attempts[1].resumeStep == corrupt)
            #expect(attempts[2].resumeStep == corrupt - 10)
            #expect(attempts[4].endReason == "the controller stopped while it ran (its agents stopped the ranks)")
            #expect(!attempts[4].nodes.contains(lostNode), "\(attempts[4].nodes)")
        }
        let events = try await c.events(job: job)
        let detected = events.filter { $0.kind == "failure.detected" && !($0.payload ?? "").contains("refines") }
        #expect(detected.map { $0.message.split(separator: " ").first.map(String.init) ?? "" }
            == ["rank-exit", "checkpoint-corrupt", "hang", "node-lost"], "\(detected.map(\.message))")
        let causes = events.filter { $0.kind == "failure.detected" }.map(\.message).joined(separator: "\n")
        #expect(causes.contains("rank 1 on \(killedNode): killed by signal 9"), "\(causes)")
        #expect(causes.contains("rank 2 on \(hungNode) reported no step"), "\(causes)")
        #expect(causes.contains("node \(lostNode) lost"), "\(causes)")
        #expect(events.contains { $0.kind == "checkpoint.corrupt" && $0.message.contains("step \(corrupt) ") })

        let problems = Self.historyProblems(Self.samples(dir.file("chaos.samples")), reference: table, steps: Self.steps,
                                            attempts: attempts)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
        #expect(await c.stop() == 0)
    }

    /// The same job over SSH on the network-namespace cluster (2 hosts × 2 CPU ranks): a killed rank is
    /// recovered with the uninterrupted parameters and sample history. Ranks find the C ABI library next
    /// to `ringmaster` on PATH and import the repository's `python/` (the namespaces share the disk).
    @Test(.enabled(if: TestEnvironment.canRunRootTests, Comment(rawValue: TestEnvironment.skipMessage)))
    func aKilledRankOverSSHEndsWithTheUninterruptedParametersAndSampleHistory() async throws {
        try TestEnvironment.requireRoot()
        let python = try await torchPython()
        try await NetnsCluster.with(hostCount: 2) { cluster, dir in
            let c = try await ControllerProcess.start(
                cluster: try dir.write("netns.yaml", cluster.inventoryYAML()), stateDirectory: dir.file("state"),
                launcher: ["/usr/bin/env", "ip", "netns", "exec", cluster.controllerNamespaceName])
            try await eventually("2 hosts ready", within: .seconds(60), every: .milliseconds(200)) {
                try await c.cliJSON(["nodes"], as: [NodeView].self).filter { $0.state == .ready }.count == 2
            }
            // Gloo binds to the namespace's interface (the shared host name resolves to an address it lacks).
            func manifest(_ name: String) throws -> String {
                try Self.manifest(name, python: python, dir: dir, failure: "maxRestarts: 3, backoff: 200ms, stallTimeout: 10s",
                                  extraEnv: ", GLOO_SOCKET_IFNAME: eth0", extra: "resources: {acceleratorsPerRank: 0, ranksPerNode: 2}")
            }
            @Sendable func events(_ job: String) async throws -> [EventView] { try await c.cliJSON(["events", "--job", job], as: [EventView].self) }
            func hashes(_ job: String) async throws -> [String] {
                try await c.cli(["logs", job, "--tail", "10000"]).output.split(separator: "\n")
                    .filter { $0.contains("parameter-hash rank") }.map(String.init).sorted()
            }
            let reference = try await c.cli(["submit", try manifest("reference"), "--wait"])
            #expect(reference.termination == .exited(0), "\(reference.output)")
            let expected = try await hashes("reference-1")
            #expect(expected.count == Self.ranks)
            let table = Self.reference(Self.samples(dir.file("reference.samples")), steps: Self.steps)

            let submitted = try await c.cli(["submit", try manifest("chaos")])
            #expect(submitted.output.contains("submitted chaos-2"), "\(submitted.output)")
            let job = "chaos-2"
            try await eventually("a checkpoint of step 20", within: .seconds(120), every: .milliseconds(200)) {
                try await events(job).contains { $0.kind == "checkpoint.committed" && (RestartTests.step(of: $0) ?? 0) >= 20 }
            }
            let kill = try await c.cli(["chaos", "kill-rank", job, "--rank", "2"])
            #expect(kill.succeeded, "\(kill.output)")
            let done = try await c.cli(["events", "-f", "--job", job])
            #expect(done.output.contains("job chaos-2 running → succeeded"), "\(done.output)")
            let detail = try await c.cliJSON(["status", job], as: JobDetail.self)
            #expect(detail.job.restarts == 1)
            #expect(detail.ranks.map(\.node) == ["h1", "h1", "h2", "h2"])
            #expect(try await events(job).contains { $0.kind == "failure.detected" && $0.message.contains("rank 2 on h2: killed by signal 9") })
            #expect(try await hashes(job) == expected)
            let problems = Self.historyProblems(Self.samples(dir.file("chaos.samples")), reference: table, steps: Self.steps,
                                                attempts: detail.attempts)
            #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
            #expect(detail.attempts.count == 2 && (detail.attempts.last?.resumeStep ?? 0) >= 20, "\(detail.attempts)")
            #expect(await c.stop() == 0)
        }
    }
}
