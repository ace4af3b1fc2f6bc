import Foundation
import JobManifest
import Planning
import RingmasterModel
import RingmasterTestKit
import Testing

/// Published figures the planner must reproduce within 2%.
@Suite struct PublishedFigures {
    func plan(_ manifest: String) throws -> (CapacityPlan, JobSpec) {
        let path = "\(BuiltProducts.packageRoot)/Manifests/jobs/\(manifest)"
        let spec = try JobManifestLoader.load(path: path).value
        let planner = CapacityPlanner(model: try #require(spec.model), hardware: try #require(spec.hardware))
        return (planner.plan(spec.parallelism), spec)
    }

    func within2Percent(_ value: Double, _ published: Double) -> Bool { abs(value / published - 1) <= 0.02 }

    @Test func gpt3TrainingFLOPs() throws {
        // Brown et al. 2020, Table D.1: 3.64e3 PF-days = 3.14e23 FLOPs.
        let (plan, _) = try plan("plan-gpt3-175b.yaml")
        #expect(within2Percent(plan.trainingFLOPs, 3.14e23))
        #expect(plan.fits)
    }

    @Test func gpt3TrainingTimeOn1024A100s() throws {
        // Narayanan et al. 2021: 8·T·P/(n·X) with X = 140 TFLOP/s per GPU → about 34 days on 1024 GPUs.
        var (_, spec) = try plan("plan-gpt3-175b.yaml")
        spec.model!.recompute = .full
        spec.hardware!.mfu = 140.0 / 312.0
        let plan = CapacityPlanner(model: spec.model!, hardware: spec.hardware!).plan(spec.parallelism)
        #expect(plan.accelerators == 1024)
        #expect(within2Percent(plan.wallClockDays, 34))
    }

    @Test func llama2GPUHours() throws {
        // Touvron et al. 2023, Table 2: 1,720,320 A100 GPU-hours for the 70B model.
        let (plan, _) = try plan("plan-llama2-70b.yaml")
        #expect(within2Percent(plan.trainingFLOPs, 8.4e23))
        #expect(within2Percent(plan.acceleratorHours, 1_720_320))
    }

    @Test func llama3TrainingFLOPs() throws {
        // Dubey et al. 2024: 3.8e25 FLOPs for the 405B model on 15.6T tokens.
        let (plan, _) = try plan("plan-llama3-405b.yaml")
        #expect(within2Percent(plan.trainingFLOPs, 3.8e25))
        // 16,384 GPUs at 50,000 h each fail every ~3 hours (Llama 3 saw 419 interruptions in 54 days: 3.09 h).
        #expect(abs(plan.reliability.clusterMTBFHours - 3.09) < 0.1)
    }

    @Test func zeroMemoryTable() {
        // Rajbhandari et al. 2020, Figure 1: Ψ = 7.5B, N_d = 64, K = 12.
        let model = ModelShape(parameters: 7.5e9, layers: 32, hiddenSize: 4096, heads: 32, sequenceLength: 1,
                               microBatchSize: 1, trainingTokens: 1, recompute: .full, zeroStage: 0)
        let hw = HardwareProfile(peakFLOPS: 1, memoryBytes: 1e12, intraNodeLinkGBps: 1, mfu: 1,
                                 mtbfPerAccelerator: .seconds(1), checkpointWrite: .seconds(1), restart: .zero)
        let expected: [Double] = [120, 31.4, 16.6, 1.9]
        for stage in 0...3 {
            var m = model
            m.zeroStage = stage
            let mem = CapacityPlanner(model: m, hardware: hw).memory(Parallelism(data: 64))
            let states = (mem.weightsBytes + mem.gradientsBytes + mem.optimizerBytes) / 1e9
            #expect(abs(states - expected[stage]) / expected[stage] <= 0.02, "ZeRO stage \(stage): \(states) GB")
        }
    }
}

@Suite struct PlannerArithmetic {
    let hardware = HardwareProfile(
        peakFLOPS: 100e12, memoryBytes: 80e9, intraNodeLinkGBps: 100, mfu: 0.5,
        mtbfPerAccelerator: .seconds(1000 * 3600), checkpointWrite: .seconds(50), restart: .seconds(100),
        acceleratorsPerNode: 8)

    func model(recompute: ActivationRecompute = .selective, zero: Int = 0) -> ModelShape {
        ModelShape(parameters: 10e9, layers: 40, hiddenSize: 5120, heads: 40, sequenceLength: 2048,
                   microBatchSize: 2, microBatches: 8, trainingTokens: 1e12, recompute: recompute, zeroStage: zero)
    }

    @Test func activationsFollowTheRecomputeFormulas() {
        let layout = Parallelism(data: 1, pipeline: 4, tensor: 2)
        let sbh = 2048.0 * 2 * 5120
        let layersTimesInFlight = 10.0 * 4  // 40/4 layers per stage, min(p=4, m=8) micro-batches in flight
        let selective = CapacityPlanner(model: model(), hardware: hardware).activationBytes(layout)
        #expect(selective == sbh * (10 + 24.0 / 2) * layersTimesInFlight)
        let none = CapacityPlanner(model: model(recompute: .none), hardware: hardware).activationBytes(layout)
        #expect(none == sbh * (10 + 24.0 / 2 + 5 * 40 * 2048 / (5120 * 2)) * layersTimesInFlight)
        let full = CapacityPlanner(model: model(recompute: .full), hardware: hardware).activationBytes(layout)
        #expect(full == 2 * sbh * layersTimesInFlight)
        var gpipe = model()
        gpipe.schedule = .gpipe
        #expect(CapacityPlanner(model: gpipe, hardware: hardware).activationBytes(layout) == sbh * 22 * 10 * 8)
    }

    @Test func zeroStagesShardOverDataParallelism() {
        let layout = Parallelism(data: 4, pipeline: 1, tensor: 2)
        func mem(_ z: Int) -> MemoryBreakdown { CapacityPlanner(model: model(zero: z), hardware: hardware).memory(layout) }
        let optimizerPerShard: Double = 12 * 10e9 / 2  // tensor 2 splits the model
        let sixteenBitPerShard: Double = 2 * 10e9 / 2
        #expect(mem(0).optimizerBytes == optimizerPerShard)
        #expect(mem(1).optimizerBytes == optimizerPerShard / 4)
        #expect(mem(1).gradientsBytes == sixteenBitPerShard)
        #expect(mem(2).gradientsBytes == sixteenBitPerShard / 4)
        #expect(mem(3).weightsBytes == sixteenBitPerShard / 4)
        #expect(mem(3).totalBytes == mem(3).perAcceleratorBytes * 8)
    }

    @Test func minimumLayoutIsTheSmallestThatFits() {
        let planner = CapacityPlanner(model: model(), hardware: hardware)
        let minimum = planner.minimumLayout()!
        #expect(planner.memory(minimum).marginBytes >= 0)
        // Every smaller layout the search considers does not fit.
        for t in [1, 2, 4, 8] where 40 % t == 0 {
            for p in 1...40 where 40 % p == 0 && t * p < minimum.worldSize {
                #expect(planner.memory(Parallelism(data: 1, pipeline: p, tensor: t)).marginBytes < 0)
            }
        }
        // With ZeRO-3, data parallelism shards everything, so a layout with d > 1 can be the minimum.
        var tight = hardware
        tight.memoryBytes = 20e9
        let zero = CapacityPlanner(model: model(zero: 3), hardware: tight)
        let z = zero.minimumLayout()!
        #expect(zero.memory(z).marginBytes >= 0)
        #expect(zero.memory(Parallelism(data: z.data - 1, pipeline: z.pipeline, tensor: z.tensor)).marginBytes < 0
                || z.data == 1)
    }

    @Test func tensorParallelCommunicationBound() {
        // balance = 100e12 / 100e9 = 1000 FLOP/B; intensity = 3·h/t = 15360/t → t ≤ 15 is compute-bound.
        let planner = CapacityPlanner(model: model(), hardware: hardware)
        #expect(planner.tensorCheck(8).communicationBound == false)
        #expect(planner.tensorCheck(8).largestEfficientTensor == 8)
        var slow = hardware
        slow.intraNodeLinkGBps = 10  // balance 10,000 → only t = 1 (intensity 15,360) is compute-bound
        let check = CapacityPlanner(model: model(), hardware: slow).tensorCheck(4)
        #expect(check.communicationBound)
        #expect(check.largestEfficientTensor == 1)
        let plan = CapacityPlanner(model: model(), hardware: slow).plan(Parallelism(data: 1, pipeline: 1, tensor: 4))
        #expect(plan.warnings.contains { $0.contains("communication-bound") })
    }

    @Test func youngDalyIntervalAndETTR() {
        let planner = CapacityPlanner(model: model(), hardware: hardware)
        let r = planner.reliability(accelerators: 10, wallClockSeconds: 100 * 3600)
        // MTBF 1000 h / 10 = 100 h = 360,000 s; interval √(2·50·360000) = 6000 s.
        #expect(r.clusterMTBFHours == 100)
        #expect(abs(r.checkpointIntervalMinutes - 100) < 1e-9)
        #expect(abs(r.expectedETTR - (1 - (3000.0 + 100) / 360_000)) < 1e-12)
        #expect(abs(r.expectedFailures - 1) < 1e-12)
    }

    @Test func trainingFLOPsAndTime() {
        let plan = CapacityPlanner(model: model(), hardware: hardware).plan(Parallelism(data: 4, pipeline: 1, tensor: 2))
        #expect(plan.trainingFLOPs == 6 * 10e9 * 1e12)
        #expect(abs(plan.acceleratorHours - 6e22 / 50e12 / 3600) < 1e-6)
        #expect(abs(plan.wallClockDays - 6e22 / 50e12 / 8 / 86400) < 1e-9)
        let full = CapacityPlanner(model: model(recompute: .full), hardware: hardware).plan(Parallelism())
        #expect(full.trainingFLOPs == 8 * 10e9 * 1e12)
    }
}
