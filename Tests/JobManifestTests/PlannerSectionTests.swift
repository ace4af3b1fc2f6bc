import JobManifest
import RingmasterModel
import Testing

@Suite struct PlannerSections {
    static let hardware = "hardware: {peakFLOPS: 989T, memory: 80GiB, intraNodeLinkGBps: 450, mfu: 0.4}\n"

    @Test func readsCountsWithSuffixesAndSizesWithUnits() throws {
        let spec = try parseJob("""
            name: j
            command: [a]
            parallelism: {tensor: 8}
            model: {parameters: 70B, layers: 80, hiddenSize: 8192, heads: 64, sequenceLength: 4096,
                    trainingTokens: 2T, recompute: full, schedule: gpipe, zeroStage: 3, microBatches: 8}
            hardware: {peakFLOPS: 312e12, memory: 80GB, intraNodeLinkGBps: 300, mfu: 0.5,
                       mtbfPerAccelerator: 10000h, checkpointWrite: 45s, restart: 2m, acceleratorsPerNode: 4}
            """)
        let model = try #require(spec.model)
        #expect(model.parameters == 70e9)
        #expect(model.trainingTokens == 2e12)
        #expect(model.recompute == .full)
        #expect(model.schedule == .gpipe)
        #expect(model.zeroStage == 3)
        let hw = try #require(spec.hardware)
        #expect(hw.peakFLOPS == 312e12)
        #expect(hw.memoryBytes == 80e9)
        #expect(hw.mtbfPerAccelerator == .seconds(36_000_000))
        #expect(hw.acceleratorsPerNode == 4)
        let gib = try parseJob("name: j\ncommand: [a]\n" + Self.hardware)
        #expect(gib.hardware?.memoryBytes == 80.0 * 1_073_741_824.0)
    }

    @Test func badPlannerValues() {
        let errors = jobErrors("""
            name: j
            command: [a]
            parallelism: {tensor: 3}
            model: {parameters: lots, layers: 80, hiddenSize: 8190, heads: 64, sequenceLength: 4096,
                    trainingTokens: 2T, recompute: partial, zeroStage: 4}
            hardware: {peakFLOPS: 989T, memory: 80 gigs, intraNodeLinkGBps: 450, mfu: 1.5}
            """)
        #expect(errors == [
            "/manifests/job.yaml:4: model.parameters: expected a number, got `lots` — write e.g. 175e9 or 175B (K, M, B, T are powers of 1000)",
            "/manifests/job.yaml:4: model.heads: hiddenSize 8190 is not divisible by 64 heads — every head needs the same width",
            "/manifests/job.yaml:4: model.heads: 64 heads cannot be split over tensor parallelism 3 — make parallelism.tensor divide the head count",
            "/manifests/job.yaml:5: model.recompute: `partial` is not one of none, selective, full — expected one of: none, selective, full",
            "/manifests/job.yaml:5: model.zeroStage: must be at most 3, got 4 — ZeRO stages are 0, 1, 2 and 3",
            "/manifests/job.yaml:6: hardware.memory: expected a positive size, got `80 gigs` — write e.g. 80GiB, 141GB or 512MiB",
            "/manifests/job.yaml:6: hardware.mfu: must be at most 1, got 1.5 — a fraction between 0 and 1",
        ])
    }
}
