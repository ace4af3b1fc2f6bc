import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import RingmasterSSHTestKit
import RingmasterTestKit
import SystemUtilities
import Testing

/// The fault manager over SSH on the network-namespace cluster (4 hosts and a spare): a rank killed
/// through its agent, a whole host killed (its sshd and everything in its namespace), a rank stopped
/// (hang) and an agent stopped (heartbeats); the job finishes with the parameters of an uninterrupted run.
@Suite(.serialized, .timeLimit(.minutes(6)),
       .enabled(if: TestEnvironment.canRunRootTests, Comment(rawValue: TestEnvironment.skipMessage)))
struct NetnsFaultTests {
    @Test func aKilledRankAndAKilledHostAreRecoveredOnTheSpare() async throws {
        try TestEnvironment.requireRoot()
        try await NetnsCluster.with(hostCount: 5) { cluster, dir in try await run(cluster, dir) }
    }

    func events(_ c: ControllerProcess, _ job: String) async throws -> [EventView] {
        try await c.cliJSON(["events", "--job", job], as: [EventView].self)
    }

    func waitFor(_ c: ControllerProcess, _ job: String, _ what: String, _ predicate: @escaping @Sendable (EventView) -> Bool) async throws {
        try await eventually(what, within: .seconds(120), every: .milliseconds(200)) {
            try await events(c, job).contains(where: predicate)
        }
    }

    func run(_ cluster: NetnsCluster, _ dir: TemporaryDirectory) async throws {
        // h5 is the spare.
        var yaml = cluster.inventoryYAML()
        yaml = yaml.replacingOccurrences(of: "name: h5, port: 22, user: root, spare: false", with: "name: h5, port: 22, user: root, spare: true")
        let inventory = try dir.write("netns.yaml", yaml)
        let c = try await ControllerProcess.start(
            cluster: inventory, stateDirectory: dir.file("state"),
            launcher: ["/usr/bin/env", "ip", "netns", "exec", cluster.controllerNamespaceName])
        try await eventually("5 hosts ready", within: .seconds(60), every: .milliseconds(200)) {
            try await c.cliJSON(["nodes"], as: [NodeView].self).filter { $0.state == .ready }.count == 5
        }
        func trainer(_ name: String) throws -> String {
            try dir.write("\(name).yaml", """
                name: \(name)
                command: [ringmaster-train, --preset, micro, --steps, "1500", --batch, "8", --checkpoint-every, "20", --log-every, "0", --print-hash]
                parallelism: {data: 2, pipeline: 2, tensor: 2}
                resources: {acceleratorsPerRank: 0, ranksPerNode: 2}
                checkpoint: {every: 20, keep: 3, dir: \(dir.file("ckpt"))}
                failure: {maxRestarts: 5, backoff: 200ms, stallTimeout: 5s}
                """)
        }
        func hashes(_ job: String) async throws -> [String] {
            try await c.cli(["logs", job, "--tail", "10000"]).output.split(separator: "\n")
                .filter { $0.contains("parameter-hash rank") }.map(String.init).sorted()
        }
        let reference = try await c.cli(["submit", try trainer("reference"), "--wait"])
        #expect(reference.termination == .exited(0), "\(reference.output)")
        let expected = try await hashes("reference-1")
        #expect(expected.count == 8)

        let submitted = try await c.cli(["submit", try trainer("chaos")])
        #expect(submitted.output.contains("submitted chaos-2"))
        let job = "chaos-2"
        try await waitFor(c, job, "the first step") { $0.kind == "attempt.stepping" }
        let kill = try await c.cli(["chaos", "kill-rank", job, "--rank", "2"])
        #expect(kill.succeeded, "\(kill.output)")
        try await waitFor(c, job, "attempt 2 stepping") { $0.kind == "attempt.stepping" && $0.message.hasPrefix("attempt 2 of") }
        // kill-node as root: everything in h2's namespace dies, sshd included; the spare takes its ranks.
        let node = try await c.cli(["chaos", "kill-node", job, "--node", "h2"])
        #expect(node.succeeded && node.output.contains("kill-node: h2 (done by the client)"), "\(node.output)")
        try await waitFor(c, job, "attempt 3 stepping") { $0.kind == "attempt.stepping" && $0.message.hasPrefix("attempt 3 of") }
        let hang = try await c.cli(["chaos", "hang-rank", job, "--rank", "4"])
        #expect(hang.succeeded, "\(hang.output)")
        try await waitFor(c, job, "attempt 4 stepping") { $0.kind == "attempt.stepping" && $0.message.hasPrefix("attempt 4 of") }
        let stop = try await c.cli(["chaos", "stop-agent", job, "--node", "h4"])
        #expect(stop.succeeded && stop.output.contains("stop-agent: h4 (done by the client)"), "\(stop.output)")
        let done = try await c.cli(["events", "-f", "--job", job])
        #expect(done.output.contains("job chaos-2 running → succeeded"), "\(done.output)")
        let detail = try await c.cliJSON(["status", job], as: JobDetail.self)
        try #require(detail.attempts.count == 5, "\(done.output)")
        #expect(detail.attempts[2].nodes.contains("h5") && !detail.attempts[2].nodes.contains("h2"), "\(detail.attempts[2].nodes)")
        let all = try await events(c, job)
        #expect(all.contains { $0.kind == "failure.detected" && $0.message.contains("rank 2 on h2: killed by signal 9") })
        #expect(all.contains { $0.kind == "failure.detected" && $0.message.hasPrefix("node-lost") && $0.message.contains("h2") })
        // Over SSH the controller cannot see which rank is stopped; every rank stalls with it, and the one
        // silent longest is named.
        #expect(all.contains { $0.kind == "failure.detected" && $0.message.hasPrefix("hang") })
        #expect(all.contains { $0.kind == "failure.detected" && $0.message.contains("node h4 lost: no heartbeat") })
        #expect(try await hashes(job) == expected)
        #expect(await c.stop() == 0)
    }
}
