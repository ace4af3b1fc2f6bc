import FaultPolicy
import Foundation
import RingmasterModel
import Supervision
import Testing

/// A queue behind a job that holds every node.
@Suite struct QueueTests {
    /// Each queued job is tried when it is submitted and again only once the free nodes change: before,
    /// every submission tried every queued job again (a thousand jobs: half a million placements, and a
    /// log line each, while the runner's other inputs waited).
    @Test func aQueuedJobIsTriedOncePerChangeOfTheFreeNodesAndTheQueueRunsOldestFirst() {
        var h = Harness(nodes: 2)
        let blocker = h.submit(Harness.spec("blocker", data: 2), id: "blocker-1")  // 4 ranks: both nodes
        h.start(blocker)
        let queued = 200
        var waiting = 0
        for k in 0..<queued {
            let actions = h.send(.submitted(JobSnapshot(id: JobID("q-\(k)"), spec: Harness.spec("q", data: 1))))  // one node
            waiting += actions.filter { if case .waiting = $0 { true } else { false } }.count
        }
        #expect(waiting == queued)
        #expect(h.events(.jobWaiting).count == queued)
        #expect(h.jobReasons["q-0"] == h.jobReasons["q-199"])
        #expect(h.jobReasons["q-0"]??.hasSuffix("(0 free ready nodes)") == true)

        // The blocker ends: the two oldest take a node each; each end starts the next oldest.
        for rank in 0..<4 { h.exit(blocker, rank: rank, status: 0) }
        #expect(h.launches.map(\.job) == ["blocker-1", "q-0", "q-1"])
        for k in 0..<10 {
            h.start(JobID("q-\(k)"))
            for rank in 0..<2 { h.exit(JobID("q-\(k)"), rank: rank, status: 0) }
        }
        #expect(h.launches.map(\.job) == ["blocker-1"] + (0..<12).map { JobID("q-\($0)") })
        #expect(h.jobStates["q-9"] == .succeeded && h.jobStates["q-12"] == .pending)
        // The rest said nothing new: their reason (no free node) has not changed.
        #expect(h.events(.jobWaiting).count == queued)
    }

    /// A job that did not fit is tried again when a node comes back, and when its reason changes it says so.
    @Test func aWaitingJobIsTriedAgainWhenANodeBecomesReady() {
        var h = Harness(nodes: 2)
        h.send(.node("n1", .lost, cause: "heartbeats stopped", accelerators: nil))
        let job = h.submit(Harness.spec("wide", data: 2), id: "wide-1")  // needs both nodes
        #expect(h.launches.isEmpty && h.jobReasons[job]??.hasSuffix("(1 free ready node)") == true)
        h.send(.node("n1", .ready, cause: "hello", accelerators: nil))
        #expect(h.launches.map(\.job) == [job])
    }
}
