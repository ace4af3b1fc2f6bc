import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import RingmasterTestKit
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The fault manager end to end on a local cluster, with the reference trainer: each failure kind is
/// detected, the job resumes from its newest committed checkpoint and ends with the parameters of an
/// uninterrupted run.
@Suite(.serialized, .timeLimit(.minutes(6))) struct FaultTests {
    /// The stall timeout is 10 s: a micro step takes milliseconds and a checkpoint save tens of them, so only the
    /// injected hang goes that long without a step, even with both cores loaded (with 3 s, a rank starved that
    /// long would be one more restart than the count the tests expect).
    static func trainer(_ name: String, steps: Int = 600, dir: TemporaryDirectory, backoff: String = "200ms",
                        failure: String = "") throws -> String {
        try dir.write("\(name).yaml", """
            name: \(name)
            command: [ringmaster-train, --preset, micro, --steps, "\(steps)", --batch, "8", --checkpoint-every, "20", --log-every, "0", --print-hash]
            parallelism: {data: 2, pipeline: 2, tensor: 2}
            checkpoint: {every: 20, keep: 3, dir: \(dir.file("ckpt"))}
            failure: {maxRestarts: 8, backoff: \(backoff), stallTimeout: 10s\(failure)}
            """)
    }

    /// `parameter-hash rank R H` lines of the job's newest attempt, by rank.
    static func hashes(_ controller: ControllerProcess, _ job: String) async throws -> [String] {
        let out = try await controller.cli(["logs", job, "--tail", "10000"]).output
        return out.split(separator: "\n").filter { $0.contains("parameter-hash rank") }.map { String($0) }.sorted()
    }

    /// The hashes of an uninterrupted run of the same training.
    static func reference(_ controller: ControllerProcess, _ dir: TemporaryDirectory, steps: Int = 600) async throws -> [String] {
        let job = try await controller.submit(try trainer("reference", steps: steps, dir: dir))
        let done = try await controller.waitForJob(job.id, within: .seconds(240))
        #expect(done.state == .succeeded)
        let h = try await hashes(controller, job.id)
        #expect(h.count == 8)
        return h
    }

    @Test func everyKindIsDetectedAndTheJobEndsWithTheUninterruptedParameters() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let c = try await ControllerProcess.start(cluster: try localCluster(dir), stateDirectory: dir.file("state"))
        try await c.waitForReadyNodes(4)
        let expected = try await Self.reference(c, dir)
        let job = try await c.submit(try Self.trainer("chaos", dir: dir)).id
        try await c.waitForStepping(job, attempt: 1)
        try await c.chaos(["kill-rank", job, "--rank", "3"])
        try await c.waitForStepping(job, attempt: 2)
        try await c.chaos(["hang-rank", job, "--rank", "5"])
        try await c.waitForStepping(job, attempt: 3)
        try await c.chaos(["kill-node", job, "--node", "local-2"])
        try await c.waitForStepping(job, attempt: 4)
        try await c.chaos(["stop-agent", job, "--node", "local-1"])
        let done = try await c.waitForJob(job, within: .seconds(240))
        #expect(done.state == .succeeded, "\(done.reason ?? "")")
        #expect(done.restarts == 4)
        #expect(try await Self.hashes(c, job) == expected)
        let events = try await c.events(job: job)
        let detected = events.filter { $0.kind == "failure.detected" && !($0.payload ?? "").contains("refines") }
        // Each recovery names its root cause: a stopped agent may first show as a hang of its ranks (their
        // reports stop before its heartbeats are missed), refined to its node's loss.
        let recoveredFrom = events.filter { $0.kind == "recovery.complete" }.map {
            $0.message.components(separatedBy: " recovered from ").last?.split(separator: " ").first.map(String.init) ?? ""
        }
        #expect(recoveredFrom == ["rank-exit", "hang", "node-lost", "node-lost"], "\(detected.map(\.message))")
        // The root cause is named: the killed rank, the stopped rank, the killed and the stopped node.
        let causes = events.filter { $0.kind == "failure.detected" }.map(\.message).joined(separator: "\n")
        #expect(causes.contains("rank 3 on local-1: killed by signal 9"), "\(causes)")
        #expect(causes.contains("rank 5 on local-2 reported no step"), "\(causes)")
        #expect(causes.contains("node local-2 lost"))
        // The stopped agent's loss is seen by its heartbeats, or first by a stop signal finding no channel.
        #expect(causes.contains("node local-1 lost") || causes.contains("node local-1 has no open channel"), "\(causes)")
        let recoveries = events.filter { $0.kind == "recovery.complete" }
        #expect(recoveries.count == 4)
        // Detection latency was measured against each injection.
        #expect(detected.allSatisfy { ($0.payload ?? "").contains("detectionSeconds") })
        #expect(await c.stop() == 0)
    }

    @Test func aDeterministicLaunchErrorFailsFastWithItsCause() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let c = try await ControllerProcess.start(cluster: try localCluster(dir, nodes: 2), stateDirectory: dir.file("state"))
        try await c.waitForReadyNodes(2)
        let bad = try dir.write("bad.yaml", """
            name: bad
            command: "if [ \\"$RANK\\" = 1 ]; then echo cannot parse config >&2; exit 3; fi; exec sleep 60"
            parallelism: {data: 4}
            failure: {maxRestarts: 10, backoff: 100ms}
            """)
        let job = try await c.submit(bad).id
        let done = try await c.waitForJob(job, within: .seconds(60))
        #expect(done.state == .failed)
        #expect(done.reason == "rank 1 exited with status 3 within 5 s of starting on local-0 twice: a launch error, not restarted")
        #expect(done.restarts == 1)
        // A program that cannot be executed fails on the first attempt.
        let missing = try await c.submit(try dir.write("missing.yaml", "name: missing\ncommand: [no-such-trainer]\nparallelism: {data: 2}\n")).id
        let failed = try await c.waitForJob(missing, within: .seconds(60))
        #expect(failed.state == .failed && failed.restarts == 0)
        #expect(failed.reason?.contains("could not start") ?? false, "\(failed.reason ?? "")")
        #expect(await c.stop() == 0)
    }

    @Test func aCorruptNewestCheckpointFallsBackOneStep() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let c = try await ControllerProcess.start(cluster: try localCluster(dir), stateDirectory: dir.file("state"))
        try await c.waitForReadyNodes(4)
        let expected = try await Self.reference(c, dir)
        let job = try await c.submit(try Self.trainer("corrupt", dir: dir, backoff: "3s")).id
        _ = try await c.waitForEvent(job: job) { $0.kind == "checkpoint.committed" && $0.message.contains("step 60 ") }
        // Fail the job while its ranks are stopped (it is between attempts for the grace period), then
        // corrupt its newest committed step.
        try await c.failFrozen(job, rank: 0)
        let detail = try await c.detail(job).job
        let newest = try #require(detail.checkpoint)
        let folder = try #require(detail.checkpointDir)
        #expect(folder.hasPrefix(dir.file("ckpt/\(job).")))
        let shard = "\(folder)/step-\(newest)/rank-2/parameters.bin"
        let handle = try #require(FileHandle(forUpdatingAtPath: shard))
        try handle.seek(toOffset: 100)
        try handle.write(contentsOf: Data(repeating: 0xA5, count: 64))
        try handle.close()
        let done = try await c.waitForJob(job, within: .seconds(240))
        #expect(done.state == .succeeded, "\(done.reason ?? "")")
        let events = try await c.events(job: job)
        #expect(events.contains { $0.kind == "checkpoint.corrupt" && $0.message.contains("step \(newest) ") })
        #expect(events.contains { $0.kind == "failure.detected" && $0.message.hasPrefix("checkpoint-corrupt") })
        let attempts = try await c.detail(job).attempts
        // Attempt 2 tried the corrupt step; attempt 3 resumed from the one before it.
        #expect(attempts.count == 3)
        #expect(attempts[1].resumeStep == newest)
        #expect(attempts[2].resumeStep == newest - 20)
        #expect(try await Self.hashes(c, job) == expected)
        #expect(await c.stop() == 0)
    }
}
