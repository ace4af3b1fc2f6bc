import Foundation
import RingmasterModel
import StateStore
import Testing

/// `recordRankSteps`: one statement for the whole batch, each rank's row found by its key.
@Suite struct RankStepsTests {
    @Test func stepsRiseNeverFallAndAFirstStepMeansRunning() throws {
        let store = try RingmasterStore.inMemory()
        for n in demoNodes() { try store.registerNode(n, at: t0) }
        let job = try store.submitJob(demoSpec(), manifest: "", manifestPath: "/m", uid: JobRecord.newUID(), at: t0)
        let a1 = try store.startAttempt(job.id, placement: demoPlacement(), token: .generate(), resumeStep: nil, at: t0)
        _ = try store.finishAttempt(a1.id!, as: .failed, reason: "test", at: t0 + 1)
        let a2 = try store.startAttempt(job.id, placement: demoPlacement(), token: .generate(), resumeStep: nil, at: t0 + 2)

        try store.recordRankSteps(attempt: a2.id!, steps: [0: 5, 1: 7, 3: 2], at: t0 + 3)
        try store.recordRankSteps(attempt: a2.id!, steps: [0: 4, 1: 8, 9: 100], at: t0 + 4)  // 0 falls back; rank 9 is none of the attempt's
        let ranks = try store.ranks(of: a2.id!)
        #expect(ranks.map(\.lastStep) == [5, 8, nil, 2])
        #expect(ranks.map(\.state) == [.running, .running, .pending, .running])
        #expect(ranks[1].updatedAt == t0 + 4)
        #expect(try store.ranks(of: a1.id!).allSatisfy { $0.lastStep == nil }, "another attempt's ranks are untouched")
    }

    @Test func aBatchOfThousandsOfRanksIsRecordedWhole() throws {
        let store = try RingmasterStore.inMemory()
        let p = Parallelism(data: 512, pipeline: 1, tensor: 8)
        let nodes = (0..<512).map { NodeEntry(id: NodeID("n\($0)"), host: "h", accelerators: Accelerator.simulated(count: 8, node: "n\($0)")) }
        for n in nodes { try store.registerNode(n, at: t0) }
        let spec = JobSpec(name: "big", command: ["x"], parallelism: p)
        let job = try store.submitJob(spec, manifest: "", manifestPath: "/m", uid: JobRecord.newUID(), at: t0)
        let placement = Placement(parallelism: p, ranks: (0..<4096).map { r in
            RankAssignment(rank: r, node: NodeID("n\(r / 8)"), localRank: r % 8, devices: [r % 8], coordinates: p.coordinates(of: r))
        })
        let attempt = try store.startAttempt(job.id, placement: placement, token: .generate(), resumeStep: nil, at: t0)
        try store.recordRankSteps(attempt: attempt.id!, steps: Dictionary(uniqueKeysWithValues: (0..<4096).map { ($0, $0 % 7) }), at: t0 + 1)
        #expect(try store.ranks(of: attempt.id!).map(\.lastStep) == (0..<4096).map { $0 % 7 })
    }
}
