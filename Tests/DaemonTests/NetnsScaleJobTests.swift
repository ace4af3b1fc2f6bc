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

/// Issue #15 §4: a 16-node job over real SSH, one rank per host of a 16-host namespace cluster (each host its
/// own sshd and its own agent directory, so the controller uploads the agent to every one). The times
/// (controller start → 16 ready, submit → all ranks started → first step) are printed, never bounded.
@Suite(.serialized, .timeLimit(.minutes(6)),
       .enabled(if: TestEnvironment.canRunRootTests, Comment(rawValue: TestEnvironment.skipMessage)))
struct NetnsScaleJobTests {
    static let hostCount = 16

    @Test func aSixteenNodeJobRunsOneRankOnEveryHost() async throws {
        try TestEnvironment.requireRoot()
        // The controller's default agent root (`.ringmaster/agent` in the login directory), a tmpfs of each host's.
        let home = String(cString: getpwuid(geteuid()).pointee.pw_dir)
        try await NetnsCluster.with(hostCount: Self.hostCount, privateAgentRoot: "\(home)/.ringmaster/agent") { cluster, dir in
            try await run(cluster, dir)
        }
    }

    func run(_ cluster: NetnsCluster, _ dir: TemporaryDirectory) async throws {
        let t0 = ContinuousClock.now
        let jobs = try await NetnsJobs.start(cluster, dir)
        print("netns scale job: controller start → \(Self.hostCount) hosts ready (agent uploaded to each) in \(ContinuousClock.now - t0)")
        let c = jobs.controller
        let steps = 20
        let manifest = try dir.write("wide.yaml", """
            name: wide
            command: [ringmaster-train, --preset, micro, --steps, "\(steps)", --batch, "32", --checkpoint-every, "10", --log-every, "0"]
            parallelism: {data: \(Self.hostCount)}
            resources: {acceleratorsPerRank: 0, ranksPerNode: 1}
            checkpoint: {every: 10, keep: 2, dir: \(dir.file("ckpt"))}
            failure: {maxRestarts: 0, stallTimeout: 60s}
            """)
        let submitted = try await c.cli(["submit", manifest])
        #expect(submitted.output.contains("submitted wide-1"), "\(submitted.output)")
        let job = "wide-1"
        let done = try await jobs.waitForEnd(job)
        #expect(done.succeeded, "\(done.output)")
        let detail = try await jobs.status(job)
        #expect(detail.attempts.count == 1, "\(detail.attempts.count) attempts")
        #expect(detail.ranks.map(\.node) == cluster.hosts.map(\.name), "\(detail.ranks.map(\.node))")
        for r in detail.ranks {
            #expect(r.exitStatus == 0 && r.lastStep == steps, "rank \(r.rank) on \(r.node): exit \(String(describing: r.exitStatus)), last step \(String(describing: r.lastStep))")
        }
        print(try Self.timeline(try await jobs.events(job), ranks: Self.hostCount))
        #expect(await c.stop() == 0)
        await NetnsJobs.expectNothingButSSHDLeft(on: cluster)
    }

    /// Submit → the last rank started → the first step, from the controller's own event times. The first step
    /// needs every rank: each step ends with a ring all-reduce over all data-parallel ranks.
    static func timeline(_ events: [EventView], ranks: Int) throws -> String {
        let submitted = try #require(events.first { $0.kind == "job.submitted" }, "no job.submitted event")
        let started = events.filter { $0.kind == "rank.started" }
        #expect(Set(started.compactMap(\.rank)).count == ranks, "rank.started for ranks \(started.compactMap(\.rank).sorted())")
        let lastStarted = try #require(started.map(\.time).max(), "no rank.started event")
        let stepping = try #require(events.first { $0.kind == "attempt.stepping" }, "no attempt.stepping event")
        func ms(_ d: Date) -> String { String(format: "%.0f ms", d.timeIntervalSince(submitted.time) * 1000) }
        return "netns scale job: \(ranks) ranks on \(ranks) hosts over SSH: submit → all ranks started \(ms(lastStarted)), " +
            "→ first step (every rank in the ring) \(ms(stepping.time))"
    }
}
