import FaultPolicy
import Foundation
import RingmasterModel
import Supervision
import Testing

/// A node cut off by a network partition: lost on missed heartbeats, its ranks replaced by the spare, and
/// after the link heals (a fresh agent's hello) free again, or still quarantined when its failures say so.
@Suite struct PartitionTests {
    static let lost = SupervisorInput.node("n1", .lost, cause: "no heartbeat for 3s (limit 3s)", accelerators: nil)
    static let healed = SupervisorInput.node("n1", .ready, cause: "agent said hello", accelerators: nil)

    @Test func aPartitionedNodeIsReplacedByTheSpareAndIsFreeAgainOnceItHeals() {
        var (h, job) = FailureKindTests.running()
        h.send(Self.lost)
        #expect(h.failures(job).map(\.kind) == [.nodeLost])
        h.survivorsExit(job)
        #expect(Set(h.launches[1].placement.nodes) == ["n0", "n2"])
        h.send(Self.healed)
        // One failure, under quarantineAfter (3): the node is ready and unclaimed, the job stays where it is.
        let n1 = h.core.fleet.node("n1")
        #expect(n1?.state == .ready && n1?.quarantine == nil)
        #expect(h.events(.nodeQuarantined).isEmpty)
        #expect(h.launches.count == 2)
    }

    @Test func aPartitionedNodeWhoseFailuresReachTheLimitStaysQuarantinedOnceItHeals() {
        var (h, job) = FailureKindTests.running(spec: Harness.spec(quarantineAfter: 1))
        h.send(Self.lost)
        h.survivorsExit(job)
        #expect(h.nodeStates["n1"] == .quarantined)
        h.send(Self.healed)
        #expect(h.nodeStates["n1"] == .quarantined && h.core.fleet.node("n1")?.quarantine != nil)
        #expect(h.launches.count == 2 && h.launches.dropFirst().allSatisfy { !$0.placement.nodes.contains("n1") })
    }
}
