import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import RingmasterSSHTestKit
import RingmasterTestKit
import Synchronization
import SystemUtilities
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Network faults on the namespace cluster, with the inventory's heartbeat (1 s, 3 missed: a node is lost after
/// 3 s of silence, an agent fences itself after 6 s without its controller's pings):
/// - delay and loss on one host's link that stay under that threshold lose no node and stop no training;
/// - a partition longer than it loses the node, the spare takes its ranks, the partitioned host's ranks stop by
///   themselves while it is cut off, and once the link heals the node is back `ready` with a fresh agent.
///
/// Delay and loss come from `DelayLine` (a user-space netem: this kernel has no `sch_netem`); the partition
/// takes the host's port off the switch's bridge, so no frame passes either way.
@Suite(.serialized, .timeLimit(.minutes(4)),
       .enabled(if: TestEnvironment.canRunRootTests, Comment(rawValue: TestEnvironment.skipMessage)))
struct NetnsNetworkFaultTests {
    /// The inventory's heartbeat (`NetnsCluster.inventoryYAML`).
    static let heartbeat = HeartbeatSettings(interval: .seconds(1), missed: 3)

    /// 100 ms each way (a 200 ms round trip on top of the link's) and 3% of the frames dropped each way. TCP carries
    /// the heartbeats: a lost segment is resent after its retransmission timeout (about 0.3–0.5 s at this round
    /// trip, doubling each time), so a heartbeat is late by the 3 s threshold only when the same segment is lost
    /// about four times running (0.03⁴ ≈ 1e-6 per segment).
    static let impairment = LinkImpairment(delay: .milliseconds(100), loss: 0.03)

    @Test func delayAndLossBelowTheHeartbeatThresholdLoseNoNodeAndTheJobTrainsOn() async throws {
        try TestEnvironment.requireRoot()
        try await NetnsCluster.with(hostCount: 4) { cluster, dir in try await delayAndLoss(cluster, dir) }
    }

    @Test func aPartitionLosesTheNodeAndTheHealedNodeReturnsWithAFreshAgentAndNoOldRank() async throws {
        try TestEnvironment.requireRoot()
        try await NetnsCluster.with(hostCount: 5) { cluster, dir in try await partition(cluster, dir) }
    }

    func delayAndLoss(_ cluster: NetnsCluster, _ dir: TemporaryDirectory) async throws {
        let jobs = try await NetnsJobs.start(cluster, dir)
        // A fixed stall timeout: this test is about node loss; a link that slows every step ten-fold at once
        // can outrun the adaptive hang timeout learnt on the fast link (`auto`: 5 × the longest recent step).
        func trainer(_ name: String) throws -> String { try jobs.trainer(name, steps: 160, stallTimeout: "60s") }
        let expected = try await jobs.referenceHashes(try trainer("reference"), job: "reference-1")

        let job = "degraded-2"
        #expect(try await jobs.controller.cli(["submit", try trainer("degraded")]).output.contains("submitted \(job)"))
        try await jobs.waitFor(job, "the first step") { $0.kind == "attempt.stepping" }
        // h2 holds ranks 2 and 3: every step's data-parallel all-reduce and pipeline transfers cross its link.
        let line = try await cluster.impair(2, Self.impairment, seed: 14)
        let began = ContinuousClock.now
        let stepAtStart = try await jobs.status(job).job.step ?? 0
        // Three thresholds' worth of impaired link, and steps made across it meanwhile.
        let window = Self.heartbeat.lostAfter * 3
        let seen = Mutex("")
        do {
            try await eventually("\(window) of impaired link and 10 steps made across it", within: .seconds(120), every: .milliseconds(250)) {
                let view = try await jobs.status(job).job
                let step = view.step ?? 0
                seen.withLock { $0 = "step \(step) (from \(stepAtStart)), job \(view.state), line \(line.counted)" }
                return ContinuousClock.now - began >= window && step >= stepAtStart + 10 && view.state == .running
            }
        } catch {
            Issue.record("\(error): \(seen.withLock { $0 })")
            throw error
        }
        let counted = line.counted
        await line.remove()
        print("\(Self.impairment) on h2 for \(ContinuousClock.now - began): \(seen.withLock { $0 })")
        #expect(counted.toHost > 0 && counted.fromHost > 0 && counted.dropped > 0, "\(counted)")

        let end = try await jobs.waitForEnd(job)
        #expect(end.succeeded, "\(end.output)")
        let detail = try await jobs.status(job)
        #expect(detail.attempts.count == 1, "\(end.output)")
        let events = try await jobs.events(job)
        #expect(!events.contains { $0.kind == "failure.detected" }, "\(end.output)")
        // h2 said hello once and was never anything but ready.
        #expect(try await jobs.nodeEvents("h2").map(\.message).count(where: { $0.contains("→ lost") || $0.contains("→ unreachable") }) == 0)
        #expect(try await jobs.node("h2")?.state == .ready)
        #expect(try await jobs.parameterHashes(job) == expected)
        #expect(await jobs.controller.stop() == 0)
    }

    func partition(_ cluster: NetnsCluster, _ dir: TemporaryDirectory) async throws {
        let jobs = try await NetnsJobs.start(cluster, dir, spares: ["h5"])
        // Every rank stalls with the cut-off host's; a long stall timeout keeps that the node's loss, not a hang.
        func trainer(_ name: String) throws -> String { try jobs.trainer(name, steps: 400, stallTimeout: "60s") }
        let expected = try await jobs.referenceHashes(try trainer("reference"), job: "reference-1")

        let job = "partitioned-2"
        #expect(try await jobs.controller.cli(["submit", try trainer("partitioned")]).output.contains("submitted \(job)"))
        try await jobs.waitFor(job, "a committed checkpoint") { $0.kind == "checkpoint.committed" }
        // What runs on h2 now: its agent and ranks 2 and 3 of attempt 1.
        let oldAgent = try #require(try await jobs.node("h2")?.agentPID)
        let oldRanks = try await jobs.status(job).ranks.filter { $0.node == "h2" }.compactMap(\.pid)
        #expect(oldRanks.count == 2)
        let before = await cluster.processesBesidesSSHD(2)
        #expect(before[oldAgent] == "ringmaster-agen" && oldRanks.allSatisfy { before[$0] != nil }, "\(before)")

        try await cluster.partition(2)
        let cut = Date()
        let detected = try await jobs.waitFor(job, "h2 lost") {
            $0.kind == "failure.detected" && $0.message.hasPrefix("node-lost") && $0.message.contains("h2")
        }
        // Lost on missed heartbeats (the channel cannot end: nothing passes), not before the threshold less the
        // one interval that the last heartbeat may have been sent before the cut.
        #expect(detected.message.contains("no heartbeat"), "\(detected.message)")
        #expect(detected.time.timeIntervalSince(cut) >= (Self.heartbeat.lostAfter - Self.heartbeat.interval).seconds)
        try await jobs.waitFor(job, "attempt 2 stepping") { $0.kind == "attempt.stepping" && $0.message.hasPrefix("attempt 2 of") }
        let second = try await jobs.status(job).attempts[1]
        #expect(second.nodes.contains("h5") && !second.nodes.contains("h2"), "\(second.nodes)")

        // Still cut off, h2's agent hears no ping and stops its ranks (SIGTERM, SIGKILL after the 2 s grace)
        // and exits: nothing of attempt 1 outlives the partition. Expected within agentSilenceLimit + grace +
        // exit bound (10 s) of the cut; the wait allows a loaded machine far more.
        try await eventually("h2's old agent and ranks gone while it is partitioned", within: .seconds(90), every: .milliseconds(250)) {
            let now = await cluster.processesBesidesSSHD(2)
            return now[oldAgent] == nil && oldRanks.allSatisfy { now[$0] == nil }
        }
        #expect(await cluster.processesBesidesSSHD(2).isEmpty)
        #expect(try await jobs.node("h2")?.state != .ready)

        try await cluster.heal(2)
        // Back with a new agent (a new SSH session started it) and one failure on it: ready, not quarantined.
        try await eventually("h2 ready again", within: .seconds(90), every: .milliseconds(250)) {
            try await jobs.node("h2")?.state == .ready
        }
        let healed = try #require(try await jobs.node("h2"))
        #expect(healed.agentPID != nil && healed.agentPID != oldAgent)
        let onHost = await cluster.processesBesidesSSHD(2)
        #expect(onHost.keys.allSatisfy { !oldRanks.contains($0) && $0 != oldAgent }, "\(onHost)")
        let transitions = try await jobs.nodeEvents("h2").map(\.message)
        #expect(transitions.contains { $0.contains("ready → lost") }, "\(transitions)")

        // No stale rank rejoined or disturbed anything: the job ends on attempt 2 with the parameters of the
        // uninterrupted run.
        let end = try await jobs.waitForEnd(job)
        #expect(end.succeeded, "\(end.output)")
        #expect(try await jobs.status(job).attempts.count == 2, "\(end.output)")
        #expect(try await jobs.parameterHashes(job) == expected)
        #expect(await jobs.controller.stop() == 0)
    }
}
