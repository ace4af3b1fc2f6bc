import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import RingmasterTestKit
import Testing

/// Pruning a checkpoint step of 20,000 files happens off the controller's loop: a node lost while it
/// runs is still detected within the node-loss bound (a heartbeat timeout of 3 × 1 s).
@Suite(.serialized, .timeLimit(.minutes(4))) struct PruneLoadTests {
    static let files = 20_000

    @Test func aNodeLossWhileAStepOfTwentyThousandFilesIsPrunedIsDetectedInTime() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // Rank 0 writes step 1 as 20,000 files; every rank commits steps 1 and 2 (keep 1: committing 2
        // prunes 1), then steps; the relaunched attempt runs 40 steps and ends.
        let script = try dir.write("many.py", """
            import os, time, ringmaster
            e = ringmaster.env()
            base = os.environ["RINGMASTER_CHECKPOINT_DIR"]
            if e.is_fresh_start:
                if e.rank == 0:
                    d = os.path.join(base, "step-1", "rank-0")
                    os.makedirs(d, exist_ok=True)
                    for i in range(\(Self.files)):
                        open(os.path.join(d, "f%05d" % i), "w").close()
                ringmaster.checkpoint(1)
                ringmaster.step(1)
                time.sleep(0.5)
                os.makedirs(os.path.join(base, "step-2", "rank-%d" % e.rank), exist_ok=True)
                ringmaster.checkpoint(2)
            for n in range(3, 100000):
                ringmaster.step(n)
                time.sleep(0.05)
                if n > 40 and not e.is_fresh_start:
                    break
            """)
        let manifest = try dir.write("many.yaml", """
            name: many
            command: [python3, \(script)]
            env: {PYTHONPATH: \(BuiltProducts.packageRoot)/python}
            parallelism: {data: 2}
            resources: {acceleratorsPerRank: 2}
            checkpoint: {every: 1, keep: 1, dir: \(dir.file("ckpt"))}
            failure: {maxRestarts: 2, stallTimeout: 60s}
            """)
        let c = try await ControllerProcess.start(cluster: try localCluster(dir, nodes: 3), stateDirectory: dir.file("state"))
        try await c.waitForReadyNodes(3)
        let job = try await c.submit(manifest).id
        _ = try await c.waitForEvent(job: job, within: .seconds(90)) {
            $0.kind == "checkpoint.committed" && $0.message.contains("step 2")
        }
        // The pruning of step 1 has begun (or is about to): inject the loss now.
        let folder = try #require(try FileManager.default.contentsOfDirectory(atPath: dir.file("ckpt")).first)
        let step1 = dir.file("ckpt/\(folder)/step-1/rank-0")
        let before = (try? FileManager.default.contentsOfDirectory(atPath: step1).count) ?? 0
        let node = try await c.call { client in
            try client.get("\(APIVersion.prefix)/jobs/\(job)", as: JobDetail.self)
        }.attempts.last?.nodes.last ?? "local-1"
        try await c.chaos(["kill-node", job, "--node", node])
        let detected = try await c.waitForEvent(job: job, within: .seconds(60)) { $0.kind == "failure.detected" }
        let payload = try #require(detected.payload.flatMap {
            try? JSONDecoder().decode([String: String].self, from: Data($0.utf8))
        })
        let seconds = try #require(payload["detectionSeconds"].flatMap { Double($0) })
        #expect(seconds < 3, "node loss detected \(seconds) s after the kill, while \(before) files of step 1 were being pruned")
        let done = try await c.waitForJob(job, within: .seconds(120))
        #expect(done.state == .succeeded, "\(done.reason ?? "")")
        #expect(!FileManager.default.fileExists(atPath: step1), "step 1 was pruned")
        #expect(await c.stop() == 0)
    }
}
