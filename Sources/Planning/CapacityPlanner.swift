import Foundation
import RingmasterModel

/// Pre-launch arithmetic: compute, memory, tensor-parallel efficiency and reliability of a layout.
/// Formulas and their sources are in README.md ("Capacity planner"). Pure.
public struct CapacityPlanner: Sendable {
    public var model: ModelShape
    public var hardware: HardwareProfile

    /// Bytes per parameter for 16-bit weights and gradients.
    static let weightBytes = 2.0
    static let gradientBytes = 2.0
    /// Adam in mixed precision: fp32 master weights, momentum and variance.
    static let optimizerBytes = 12.0

    public init(model: ModelShape, hardware: HardwareProfile) {
        self.model = model
        self.hardware = hardware
    }

    public func plan(_ layout: Parallelism) -> CapacityPlan {
        let n = layout.worldSize
        let flops = trainingFLOPs
        let perAcceleratorRate = hardware.peakFLOPS * hardware.mfu
        let acceleratorSeconds = flops / perAcceleratorRate
        let memory = self.memory(layout)
        let minimum = minimumLayout()
        let tp = tensorCheck(layout.tensor)
        let reliability = self.reliability(accelerators: n, wallClockSeconds: acceleratorSeconds / Double(n))
        var warnings: [String] = []
        if memory.marginBytes < 0 {
            warnings.append("does not fit: needs \(Self.gib(memory.perAcceleratorBytes)) per accelerator, "
                + "has \(Self.gib(memory.capacityBytes))")
        }
        if tp.communicationBound {
            let better = tp.largestEfficientTensor.map { "tensor ≤ \($0) is not" } ?? "even tensor 1 is"
            warnings.append("tensor parallelism \(layout.tensor) is communication-bound "
                + "(\(Int(tp.computePerByte)) FLOP/byte < machine balance \(Int(tp.machineBalance))); \(better)")
        }
        if model.layers % layout.pipeline != 0 {
            let most = (Double(model.layers) / Double(layout.pipeline)).rounded(.up)
            warnings.append("\(model.layers) layers do not split evenly into \(layout.pipeline) stages; the busiest "
                + "stage holds \(Int(most)) and sets the pace")
        }
        if layout.pipeline > 1 && model.microBatches < layout.pipeline {
            warnings.append("\(model.microBatches) micro-batches for \(layout.pipeline) pipeline stages leave the "
                + "pipeline mostly idle; use at least \(layout.pipeline)")
        }
        return CapacityPlan(
            accelerators: n, layout: layout, trainingFLOPs: flops, acceleratorHours: acceleratorSeconds / 3600,
            wallClockDays: acceleratorSeconds / Double(n) / 86400, memory: memory, fits: memory.marginBytes >= 0,
            minimumAccelerators: minimum?.worldSize, minimumLayout: minimum, tensorParallel: tp,
            reliability: reliability, warnings: warnings)
    }

    /// 6·P·T: forward 2·P·T plus backward 4·P·T. Full recompute runs the forward again: 8·P·T.
    public var trainingFLOPs: Double {
        let factor = model.recompute == .full ? 8.0 : 6.0
        return factor * model.parameters * model.trainingTokens
    }

    public func memory(_ layout: Parallelism) -> MemoryBreakdown {
        let p = model.parameters
        let modelShards = Double(layout.tensor * layout.pipeline)
        let d = Double(layout.data)
        let z = model.zeroStage
        let weights = Self.weightBytes * p / modelShards / (z >= 3 ? d : 1)
        let gradients = Self.gradientBytes * p / modelShards / (z >= 2 ? d : 1)
        let optimizer = Self.optimizerBytes * p / modelShards / (z >= 1 ? d : 1)
        let activations = activationBytes(layout)
        let per = weights + gradients + optimizer + activations
        return MemoryBreakdown(
            weightsBytes: weights, gradientsBytes: gradients, optimizerBytes: optimizer, activationsBytes: activations,
            perAcceleratorBytes: per, totalBytes: per * Double(layout.worldSize), capacityBytes: hardware.memoryBytes,
            marginBytes: hardware.memoryBytes - per)
    }

    /// Activation bytes held by the busiest (first) pipeline stage, from Korthikanti et al. 2022, Table 2,
    /// per layer, without / with sequence parallelism:
    /// none `s·b·h·(10 + 24/t + 5·a·s/(h·t))` / `s·b·h·(34/t + 5·a·s/(h·t))`,
    /// selective `s·b·h·(10 + 24/t)` / `s·b·h·34/t`, full `2·s·b·h` / `2·s·b·h/t`;
    /// times the layers of a stage, times the micro-batches in flight (1F1B: min(p, m); GPipe: m).
    public func activationBytes(_ layout: Parallelism) -> Double {
        let s = Double(model.sequenceLength), b = Double(model.microBatchSize), h = Double(model.hiddenSize)
        let a = Double(model.heads), t = Double(layout.tensor)
        let attention = 5 * a * s / (h * t)
        let sp = model.sequenceParallel
        let perLayer: Double
        switch model.recompute {
        case .none: perLayer = s * b * h * ((sp ? 34 / t : 10 + 24 / t) + attention)
        case .selective: perLayer = s * b * h * (sp ? 34 / t : 10 + 24 / t)
        case .full: perLayer = 2 * s * b * h / (sp ? t : 1)
        }
        let layersPerStage = (Double(model.layers) / Double(layout.pipeline)).rounded(.up)
        let inFlight: Int
        switch model.schedule {
        case .oneFOneB: inFlight = min(layout.pipeline, model.microBatches)
        case .gpipe: inFlight = model.microBatches
        }
        return perLayer * layersPerStage * Double(inFlight)
    }

    /// Smallest layout that fits: t a power of two within a node dividing the heads, p dividing the
    /// layers, and d only as large as ZeRO sharding needs (without ZeRO, d does not reduce memory).
    public func minimumLayout() -> Parallelism? {
        var best: Parallelism?
        var t = 1
        while t <= hardware.acceleratorsPerNode {
            defer { t *= 2 }
            guard model.heads % t == 0 else { continue }
            for p in 1...model.layers where model.layers % p == 0 {
                guard let d = smallestData(tensor: t, pipeline: p) else { continue }
                let candidate = Parallelism(data: d, pipeline: p, tensor: t)
                if best.map({ candidate.worldSize < $0.worldSize }) ?? true { best = candidate }
            }
        }
        return best
    }

    private func smallestData(tensor t: Int, pipeline p: Int) -> Int? {
        let one = memory(Parallelism(data: 1, pipeline: p, tensor: t))
        if one.marginBytes >= 0 { return 1 }
        guard model.zeroStage > 0 else { return nil }
        // Memory is fixed + sharded/d; solve fixed + sharded/d ≤ capacity for the smallest d.
        let z = model.zeroStage
        let sharded = one.optimizerBytes + (z >= 2 ? one.gradientsBytes : 0) + (z >= 3 ? one.weightsBytes : 0)
        let fixed = one.perAcceleratorBytes - sharded
        let room = hardware.memoryBytes - fixed
        guard room > 0 else { return nil }
        var d = max(1, Int((sharded / room).rounded(.up)))
        // Guard against floating-point rounding at the boundary.
        while memory(Parallelism(data: d, pipeline: p, tensor: t)).marginBytes < 0 { d += 1 }
        return d
    }

    public func tensorCheck(_ t: Int) -> TensorParallelCheck {
        let balance = hardware.peakFLOPS / (hardware.intraNodeLinkGBps * 1e9)
        func intensity(_ t: Int) -> Double { 6 * (Double(model.hiddenSize) / Double(t)) / Self.weightBytes }
        var largest: Int?
        var candidate = 1
        while candidate <= hardware.acceleratorsPerNode {
            if model.heads % candidate == 0 && intensity(candidate) >= balance { largest = candidate }
            candidate *= 2
        }
        return TensorParallelCheck(
            computePerByte: intensity(t), machineBalance: balance, communicationBound: t > 1 && intensity(t) < balance,
            largestEfficientTensor: largest)
    }

    public func reliability(accelerators n: Int, wallClockSeconds: Double) -> Reliability {
        let mtbf = hardware.mtbfPerAccelerator.seconds / Double(n)
        let c = hardware.checkpointWrite.seconds
        let interval = (2 * c * mtbf).squareRoot()
        return Reliability(
            clusterMTBFHours: mtbf / 3600, checkpointIntervalMinutes: interval / 60,
            expectedETTR: Self.expectedETTR(mtbf: mtbf, checkpointInterval: interval, restart: hardware.restart.seconds),
            expectedFailures: wallClockSeconds / mtbf)
    }

    /// The reliability model: each failure loses half a checkpoint interval of work on average plus the
    /// restart time, so ETTR = 1 − (τ/2 + R) / MTBF (all in seconds).
    public static func expectedETTR(mtbf: Double, checkpointInterval: Double, restart: Double) -> Double {
        max(0, 1 - (checkpointInterval / 2 + restart) / mtbf)
    }

    static func gib(_ bytes: Double) -> String { String(format: "%.1f GiB", bytes / 1_073_741_824) }
}
