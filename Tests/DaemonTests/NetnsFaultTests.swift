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

    func run(_ cluster: NetnsCluster, _ dir: TemporaryDirectory) async throws {
        // h5 is the spare.
        let jobs = try await NetnsJobs.start(cluster, dir, spares: ["h5"])
        let c = jobs.controller
        func trainer(_ name: String) throws -> String { try jobs.trainer(name, steps: 1500) }
        let expected = try await jobs.referenceHashes(try trainer("reference"), job: "reference-1")
        let submitted = try await c.cli(["submit", try trainer("chaos")])
        #expect(submitted.output.contains("submitted chaos-2"))
        let job = "chaos-2"
        try await jobs.waitFor(job, "the first step") { $0.kind == "attempt.stepping" }
        let kill = try await c.cli(["chaos", "kill-rank", job, "--rank", "2"])
        #expect(kill.succeeded, "\(kill.output)")
        try await jobs.waitFor(job, "attempt 2 stepping") { $0.kind == "attempt.stepping" && $0.message.hasPrefix("attempt 2 of") }
        // kill-node as root: everything in h2's namespace dies, sshd included; the spare takes its ranks.
        let node = try await c.cli(["chaos", "kill-node", job, "--node", "h2"])
        #expect(node.succeeded && node.output.contains("kill-node: h2 (done by the client)"), "\(node.output)")
        try await jobs.waitFor(job, "attempt 3 stepping") { $0.kind == "attempt.stepping" && $0.message.hasPrefix("attempt 3 of") }
        let hang = try await c.cli(["chaos", "hang-rank", job, "--rank", "4"])
        #expect(hang.succeeded, "\(hang.output)")
        try await jobs.waitFor(job, "attempt 4 stepping") { $0.kind == "attempt.stepping" && $0.message.hasPrefix("attempt 4 of") }
        let stop = try await c.cli(["chaos", "stop-agent", job, "--node", "h4"])
        #expect(stop.succeeded && stop.output.contains("stop-agent: h4 (done by the client)"), "\(stop.output)")
        let done = try await jobs.waitForEnd(job)
        #expect(done.succeeded, "\(done.output)")
        let detail = try await jobs.status(job)
        try #require(detail.attempts.count == 5, "\(done.output)")
        #expect(detail.attempts[2].nodes.contains("h5") && !detail.attempts[2].nodes.contains("h2"), "\(detail.attempts[2].nodes)")
        let all = try await jobs.events(job)
        #expect(all.contains { $0.kind == "failure.detected" && $0.message.contains("rank 2 on h2: killed by signal 9") })
        #expect(all.contains { $0.kind == "failure.detected" && $0.message.hasPrefix("node-lost") && $0.message.contains("h2") })
        // Over SSH the controller cannot see which rank is stopped; every rank stalls with it, and the one
        // silent longest is named.
        #expect(all.contains { $0.kind == "failure.detected" && $0.message.hasPrefix("hang") })
        #expect(all.contains { $0.kind == "failure.detected" && $0.message.contains("node h4 lost: no heartbeat") })
        #expect(try await jobs.parameterHashes(job) == expected)
        #expect(await c.stop() == 0)
    }
}
