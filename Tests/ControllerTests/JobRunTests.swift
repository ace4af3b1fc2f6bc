import Checkpointing
import Controller
import Foundation
import JobManifest
import RingmasterModel
import RingmasterTestKit
import StateStore
import Testing

final class Lines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func add(_ s: String) { lock.withLock { lines.append(s) } }
    var all: [String] { lock.withLock { lines } }
}

/// Real local agents, real rank processes: a job run end to end through the node manager.
@Suite(.serialized, .timeLimit(.minutes(3))) struct JobRunEndToEnd {
    func run(_ yaml: String, nodes: Int = 2, in dir: String) async throws -> (JobOutcome, RingmasterStore, Lines) {
        let jobFile = try writeFile(dir, "job.yaml", yaml)
        let clusterFile = try writeFile(dir, "cluster.yaml", "name: t\nlocal: {nodes: \(nodes), accelerators: 2}\n")
        let job = try JobManifestLoader.load(path: jobFile)
        let inventory = try ClusterInventoryLoader.load(path: clusterFile).value
        let store = try RingmasterStore.open(path: "\(dir)/state.db")
        let lines = Lines()
        let agent = try BuiltProducts.executable("ringmaster-agent")
        let run = JobRun(manifest: job, inventory: inventory, store: store,
                         options: JobRunOptions(stateDirectory: dir, agentExecutable: agent,
                                                binDirectory: BuiltProducts.directory),
                         output: lines.add)
        return (try await run.run(), store, lines)
    }

    @Test func theTrainerRunsOnLocalAgentsAndCheckpointsAreCommitted() async throws {
        try await withTemporaryDirectory { dir in
            let (outcome, store, lines) = try await run("""
                name: train
                command: [ringmaster-train, --preset, micro, --steps, "6", --batch, "8", --checkpoint-every, "3"]
                parallelism: {data: 1, pipeline: 2, tensor: 2}
                checkpoint: {every: 3, keep: 1, dir: ckpt}
                """, in: dir)
            #expect(outcome == .succeeded, "\(lines.all.joined(separator: "\n"))")
            let job = try #require(try store.jobs().first)
            #expect(job.state == .succeeded)
            let attempt = try #require(try store.attempts(of: job.id).first)
            #expect(attempt.state == .succeeded)
            #expect(try store.ranks(of: attempt.id!).map(\.exitStatus) == [0, 0, 0, 0])
            // Both steps were committed; retention kept the newest.
            #expect(try store.checkpoints(of: job.id).map(\.step) == [6, 3])
            // Each job checkpoints into its own folder under `checkpoint.dir`.
            #expect(job.identity == "\(job.id).\(job.uid)" && job.uid.count == 12)
            #expect(CheckpointLayout(directory: "\(dir)/ckpt/\(job.identity)").committedSteps() == [6])
            #expect(CommitMarker.read(CheckpointLayout(directory: "\(dir)/ckpt/\(job.identity)"), step: 6)?.job == job.identity)
            let kinds = Set(try store.events(job: job.id).map(\.kind.rawValue))
            #expect(kinds.isSuperset(of: ["job.submitted", "attempt.started", "rank.started", "rank.exited",
                                          "checkpoint.committed", "attempt.finished", "job.state"]))
            #expect(try store.nodes().allSatisfy { $0.state == .ready })
        }
    }

    @Test func oneFailingRankFailsTheJobAndStopsTheOthers() async throws {
        try await withTemporaryDirectory { dir in
            let start = ContinuousClock.now
            let (outcome, store, lines) = try await run("""
                name: fails
                command: "if [ \\"$RANK\\" = 1 ]; then echo bad input >&2; exit 3; fi; exec sleep 60"
                parallelism: {data: 4}
                failure: {maxRestarts: 0}
                """, in: dir)
            let cause = "restart budget of 0 spent; last failure rank-exit: rank 1 on local-0: exit status 3"
            #expect(outcome == .failed(cause), "\(lines.all.joined(separator: "\n"))")
            // The sleeping ranks were stopped, not waited for.
            #expect(ContinuousClock.now - start < .seconds(30))
            #expect(lines.all.contains("[rank 1] bad input"))
            let job = try #require(try store.jobs().first)
            #expect(job.state == .failed)
            #expect(job.reason == cause)
            let ranks = try store.ranks(of: try #require(try store.attempts(of: job.id).first).id!)
            #expect(ranks[1].exitStatus == 3)
            #expect(ranks.filter { $0.rank != 1 }.allSatisfy { $0.exitSignal == 15 || $0.exitSignal == 9 })
        }
    }

    @Test func aJobTooLargeForTheReadyNodesFailsWithTheReason() async throws {
        try await withTemporaryDirectory { dir in
            let (outcome, _, _) = try await run("name: big\ncommand: [true]\nparallelism: {data: 8}\n", nodes: 2, in: dir)
            guard case .failed(let reason) = outcome else {
                Issue.record("expected a failure")
                return
            }
            #expect(reason.hasPrefix("cannot place on the ready nodes: waiting for nodes: world size 8"), "\(reason)")
        }
    }
}
