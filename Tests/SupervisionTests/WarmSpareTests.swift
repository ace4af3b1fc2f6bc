import FaultPolicy
import Foundation
import RingmasterModel
import Supervision
import Testing

/// The warm spares of a job with `warm:` (the idle nodes that keep its interpreters): chosen at launch,
/// inventory spares first; when a node becomes ready while the attempt runs and the choice would differ (a
/// lost spare back), the pools follow; a job without `warm:` has none.
@Suite struct WarmSpareTests {
    static func warmSpec(spares: Int = 1) -> JobSpec {
        var spec = Harness.spec()
        spec.warm = WarmPolicy(python: "python3", preload: ["torch"], spares: spares)
        return spec
    }

    @Test func aLaunchNamesTheInventorySparesFirstAndNoneWithoutWarm() {
        var h = Harness(nodes: 3, spares: 2)
        let job = h.submit(Self.warmSpec(spares: 2))
        // data 2 × tensor 2 on 2-accelerator nodes: n0 and n1; n2 is free, n3 and n4 are inventory spares.
        #expect(h.launches.last?.warmSpares == ["n3", "n4"])
        #expect(h.attempt(job)?.warmSpares == ["n3", "n4"])
        var cold = Harness(nodes: 3, spares: 2)
        _ = cold.submit(Harness.spec())
        #expect(cold.launches.last?.warmSpares == [])
    }

    @Test func aSpareLostAndBackWhileTheAttemptRunsGetsItsPoolAgain() {
        var h = Harness(nodes: 2, spares: 1)
        let job = h.submit(Self.warmSpec())
        #expect(h.launches.last?.warmSpares == ["n2"])
        h.start(job)
        h.send(.node("n2", .lost, cause: "heartbeats stopped", accelerators: nil))
        // Nothing free to take its place: no spare until one is ready.
        #expect(h.warmPools.last?.spares == [])
        h.send(.node("n2", .ready, cause: "hello", accelerators: nil))
        #expect(h.warmPools.last?.spares == ["n2"] && h.warmPools.last?.job == job)
        #expect(h.warmPools.last?.placement == h.attempt(job)?.placement)
        // Ready again with the same choice: nothing to do.
        let before = h.warmPools.count
        h.send(.node("n2", .ready, cause: "hello", accelerators: nil))
        #expect(h.warmPools.count == before)
    }
}
