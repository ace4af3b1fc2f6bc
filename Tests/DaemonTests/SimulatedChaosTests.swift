import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import RingmasterTestKit
import Testing

/// The real controller on a simulated inventory: its agents are simulated in its own process, its ranks virtual,
/// and `ringmaster chaos` injects every failure kind into them — kill-rank, hang-rank, kill-node, stop-agent and a
/// partition of two nodes — each detected as what it is and recovered from the newest committed checkpoint.
@Suite(.serialized, .timeLimit(.minutes(6))) struct SimulatedChaosTests {
    static func cluster(_ dir: TemporaryDirectory) throws -> String {
        try dir.write("simulated.yaml", """
            name: sim
            simulated: {nodes: 32, accelerators: 4, kind: nvidia, spares: 1, stepTime: 1s}
            heartbeat: {interval: 1s, missed: 3}
            """)
    }

    @Test func everyChaosKindWorksOnSimulatedNodes() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let c = try await ControllerProcess.start(cluster: try Self.cluster(dir), stateDirectory: dir.file("state"))
        try await c.waitForReadyNodes(33)
        let nodes = try await c.call { try $0.get("\(APIVersion.prefix)/nodes", as: [NodeView].self) }
        #expect(nodes.allSatisfy { $0.accelerators.count == 4 && $0.accelerators.allSatisfy { $0.kind == .nvidia } })
        // 64 ranks on 16 nodes, a step every 50 ms, a checkpoint every 20 steps; the stall timeout is long enough
        // that only the injected hang trips it on a loaded machine.
        let manifest = try dir.write("sim-job.yaml", """
            name: simjob
            command: [simulated-rank, --steps, "1200", --step-time, 50ms, --checkpoint-every, "20"]
            parallelism: {data: 16, tensor: 4}
            checkpoint: {every: 20, keep: 2, dir: \(dir.file("ckpt"))}
            failure: {maxRestarts: 10, backoff: 200ms, stallTimeout: 5s}
            """)
        let job = try await c.submit(manifest).id
        _ = try await c.waitForEvent(job: job) { $0.kind == "checkpoint.committed" }
        try await c.chaos(["kill-rank", job, "--rank", "5"])
        try await c.waitForStepping(job, attempt: 2)
        try await c.chaos(["hang-rank", job, "--rank", "9"])
        try await c.waitForStepping(job, attempt: 3)
        try await c.chaos(["kill-node", job, "--node", "sim-2"])
        try await c.waitForStepping(job, attempt: 4)
        try await c.chaos(["stop-agent", job, "--node", "sim-3"])
        try await c.waitForStepping(job, attempt: 5)
        try await c.chaos(["partition", job, "--nodes", "sim-4,sim-5", "--for", "8s"])
        try await c.waitForStepping(job, attempt: 6)
        let done = try await c.waitForJob(job, within: .seconds(240))
        #expect(done.state == .succeeded, "\(done.reason ?? "")")
        let events = try await c.events(job: job)
        let recoveredFrom = events.filter { $0.kind == "recovery.complete" }.map {
            $0.message.components(separatedBy: " recovered from ").last?.split(separator: " ").first.map(String.init) ?? ""
        }
        // The two partitioned nodes fall silent together but are declared lost up to a heartbeat interval apart
        // (their last heartbeats were): the second may end the attempt that replaced the first.
        #expect(Array(recoveredFrom.prefix(4)) == ["rank-exit", "hang", "node-lost", "node-lost"])
        #expect((5...6).contains(recoveredFrom.count) && recoveredFrom.dropFirst(4).allSatisfy { $0 == "node-lost" }, "\(recoveredFrom)")
        #expect(done.restarts == recoveredFrom.count)
        let causes = events.filter { $0.kind == "failure.detected" }.map(\.message).joined(separator: "\n")
        #expect(causes.contains("killed by signal 9"), "\(causes)")
        #expect(causes.contains("rank 9 on sim-2 reported no step") || causes.contains("reported no step"), "\(causes)")
        #expect(causes.contains("node sim-2 lost") && causes.contains("simulated node killed"), "\(causes)")
        #expect(causes.contains("node sim-3 lost") && causes.contains("no heartbeat"), "\(causes)")
        #expect(causes.contains("node sim-4 lost") || causes.contains("node sim-5 lost"), "\(causes)")
        // Every attempt after the first resumed from a committed checkpoint.
        let detail = try await c.detail(job)
        #expect(detail.attempts.dropFirst().allSatisfy { ($0.resumeStep ?? 0) > 0 })
        // The partitioned nodes come back once it heals (a fresh simulated agent each).
        try await c.waitForReadyNodes(33, within: .seconds(120))
        #expect(await c.stop() == 0)
    }
}
