import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import RingmasterTestKit
import SystemUtilities
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Recovery when it is not simple: a spare takes a lost node's ranks, failures overlap, the controller
/// dies in the middle of a recovery, a lemon node is quarantined and released.
@Suite(.serialized, .timeLimit(.minutes(6))) struct RecoveryScenarioTests {
    @Test func aSpareTakesTheRanksOfALostNodeAndOverlappingFailuresAreHandled() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let cluster = try dir.write("cluster.yaml", "name: spare\nlocal: {nodes: 4, accelerators: 2, spares: 1}\n")
        let c = try await ControllerProcess.start(cluster: cluster, stateDirectory: dir.file("state"))
        do { try await spare(c, dir) } catch {
            FileHandle.standardError.write(Data("the controller's log (last 6000 characters):\n\(c.log.suffix(6000))\n".utf8))
            throw error
        }
    }

    func spare(_ c: ControllerProcess, _ dir: TemporaryDirectory) async throws {
        try await c.waitForReadyNodes(5)
        let expected = try await FaultTests.reference(c, dir)
        let job = try await c.submit(try FaultTests.trainer("spare", dir: dir, backoff: "1s")).id
        try await c.waitForStepping(job, attempt: 1)
        let before = try await c.detail(job).attempts[0].nodes
        #expect(!before.contains("local-4"))  // the spare is held back
        try await c.chaos(["kill-node", job, "--node", "local-1"])
        // A second failure while the first is being recovered: another node dies as the relaunch (immediate
        // after a first failure) starts, or while it trains.
        _ = try await c.waitForEvent(job: job) { $0.kind == "recovery.decision" }
        let agents = try await c.childPids()
        for pid in agents where (POSIX.readText("/proc/\(pid)/cmdline") ?? "").contains("local-3") { kill(pid, SIGKILL) }
        let done = try await c.waitForJob(job, within: .seconds(240))
        #expect(done.state == .succeeded, "\(done.reason ?? "")")
        let attempts = try await c.detail(job).attempts
        // local-1's ranks went to the spare; local-3's loss was a second recovery (or, lost before the
        // relaunch, left out of it).
        #expect(attempts[1].nodes.contains("local-4") && !attempts[1].nodes.contains("local-1"), "\(attempts[1].nodes)")
        let failures = try await c.events(job: job).filter { $0.kind == "failure.detected" && !($0.payload ?? "").contains("refines") }
        #expect(failures.count >= 1 && failures.count <= 2, "\(failures.map(\.message))")
        #expect(try await FaultTests.hashes(c, job) == expected)
        #expect(await c.stop() == 0)
    }

    @Test func theControllerKilledDuringARecoveryLeavesItToTheNextOne() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let cluster = try localCluster(dir)
        let first = try await ControllerProcess.start(cluster: cluster, stateDirectory: dir.file("state"))
        try await first.waitForReadyNodes(4)
        let expected = try await FaultTests.reference(first, dir)
        let job = try await first.submit(try FaultTests.trainer("midway", dir: dir, backoff: "5s")).id
        _ = try await first.waitForEvent(job: job) { $0.kind == "checkpoint.committed" }
        try await first.chaos(["kill-rank", job, "--rank", "6"])
        _ = try await first.waitForEvent(job: job) { $0.kind == "recovery.decision" }
        await first.kill9()
        let second = try await ControllerProcess.start(cluster: cluster, stateDirectory: dir.file("state"))
        let done = try await second.waitForJob(job, within: .seconds(240))
        #expect(done.state == .succeeded, "\(done.reason ?? "")")
        let attempts = try await second.detail(job).attempts
        // The first controller may have relaunched at once (the first restart is immediate) before it died.
        #expect(attempts.count >= 2 && attempts.dropLast().allSatisfy { $0.state == .failed }, "\(attempts)")
        #expect(attempts.last?.resumeStep != nil)
        #expect(try await FaultTests.hashes(second, job) == expected)
        #expect(await second.stop() == 0)
    }

    @Test func aLemonNodeIsQuarantinedAndReleased() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var c = try await ControllerProcess.start(cluster: try localCluster(dir), stateDirectory: dir.file("state"))
        try await c.waitForReadyNodes(4)
        let job = try await c.submit(try FaultTests.trainer("lemon", steps: 2000, dir: dir, failure: ", quarantineAfter: 2")).id
        try await c.waitForStepping(job, attempt: 1)
        try await c.chaos(["kill-rank", job, "--rank", "2"])
        try await c.waitForStepping(job, attempt: 2)
        try await c.chaos(["kill-rank", job, "--rank", "3"])
        _ = try await c.waitForEvent(job: job) { $0.kind == "job.state" && $0.message.contains("→ pending") }
        let nodes = try await c.call { try $0.get("/v1/nodes", as: [NodeView].self) }
        let lemon = try #require(nodes.first { $0.id == "local-1" })
        #expect(lemon.state == .quarantined)
        #expect(lemon.reason == "2 failures within 60 min (the last rank-exit); release with `ringmaster nodes release local-1`")
        let table = try await c.cli(["nodes"])
        #expect(table.output.contains("quarantined") && table.output.contains("ringmaster nodes release local-1"))
        // Quarantine survives a controller killed with -9 and restarted on the same state directory, even
        // though the lemon's agent comes back ready (issue 13's regression).
        let cluster = try localCluster(dir)
        await c.kill9()
        c = try await ControllerProcess.start(cluster: cluster, stateDirectory: dir.file("state"))
        try await eventually("local-1's agent to be back", within: .seconds(60)) { [c] in
            c.log.contains("node local-1: connecting → ready") || c.log.contains("node local-1: - → ready")
        }
        try await c.waitForReadyNodes(3)
        let after = try await c.call { try $0.get("/v1/nodes", as: [NodeView].self) }
        #expect(after.first { $0.id == "local-1" }?.state == .quarantined, "\(after.map { "\($0.id) \($0.state)" })")
        let status = try await c.detail(job).job
        #expect(status.state == .pending && (status.reason ?? "").hasPrefix("waiting for nodes"), "\(status.reason ?? "")")
        let released = try await c.cli(["nodes", "release", "local-1"])
        #expect(released.output.contains("local-1 released; it is ready"), "\(released.output)")
        try await c.waitForStepping(job, attempt: 3)
        #expect(try await c.cli(["cancel", job]).succeeded)
        #expect(await c.stop() == 0)
    }
}

/// A node lost for good (quarantined at its first failure) and no spare: with `minDataParallel`, the job
/// shrinks its data parallelism onto the remaining nodes, then grows back at a checkpoint once the node
/// is released.
@Suite(.serialized, .timeLimit(.minutes(5))) struct ShrinkTests {
    @Test func aJobShrinksToTheNodesLeftAndGrowsBackWhenTheyReturn() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let c = try await ControllerProcess.start(cluster: try localCluster(dir), stateDirectory: dir.file("state"))
        try await c.waitForReadyNodes(4)
        let job = try await c.submit(try FaultTests.trainer(
            "shrink", steps: 1200, dir: dir, failure: ", quarantineAfter: 1, minDataParallel: 1")).id
        _ = try await c.waitForEvent(job: job) { $0.kind == "attempt.stepping" }
        #expect(try await c.cli(["chaos", "kill-node", job, "--node", "local-3"]).succeeded)
        let shrink = try await c.waitForEvent(job: job) { $0.kind == "recovery.shrink" }
        #expect(shrink.message == "\(job): data parallelism 2 → 1 (4 ranks on 2 nodes) to continue without the lost capacity; "
            + "it grows back at a checkpoint once nodes return")
        _ = try await c.waitForEvent(job: job) { $0.kind == "attempt.stepping" && $0.message.hasPrefix("attempt 2 of") }
        let shrunk = try await c.detail(job)
        #expect(shrunk.ranks.count == 4 && shrunk.attempts[1].nodes.count == 2, "\(shrunk.attempts[1].nodes)")
        #expect(!shrunk.attempts[1].nodes.contains("local-3"))
        // Released: at its next checkpoint the shrunken attempt stops and the job grows back to 8 ranks.
        #expect(try await c.cli(["nodes", "release", "local-3"]).succeeded)
        _ = try await c.waitForEvent(job: job) { $0.kind == "recovery.grow" }
        let done = try await c.waitForJob(job, within: .seconds(240))
        #expect(done.state == .succeeded, "\(done.reason ?? "")")
        let final = try await c.detail(job)
        #expect(final.attempts.map(\.state) == [.failed, .stopped, .succeeded])
        #expect(final.attempts[1].endReason?.hasPrefix("stopped at step") ?? false)
        #expect(final.attempts[2].nodes.count == 4 && final.ranks.count == 8)
        #expect(final.attempts[2].resumeStep != nil)
        // The steps written by the 4-rank layout were read back by the 8-rank one.
        let logs = try await c.cli(["logs", job, "--tail", "10000"]).output
        #expect(logs.components(separatedBy: "parameter-hash rank").count == 9)
        #expect(await c.stop() == 0)
    }
}
