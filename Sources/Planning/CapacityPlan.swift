import RingmasterModel

/// What `ringmaster plan` reports for one layout. Field names are the `--json` contract.
public struct CapacityPlan: Hashable, Codable, Sendable {
    public var accelerators: Int
    public var layout: Parallelism
    /// 6·P·T, or 8·P·T with full activation recompute (one more forward pass).
    public var trainingFLOPs: Double
    public var acceleratorHours: Double
    public var wallClockDays: Double
    public var memory: MemoryBreakdown
    public var fits: Bool
    /// Fewest accelerators of any layout that fits in memory, nil when none does.
    public var minimumAccelerators: Int?
    public var minimumLayout: Parallelism?
    public var tensorParallel: TensorParallelCheck
    public var reliability: Reliability
    public var warnings: [String]
}

/// Bytes per accelerator (and in total) by kind of state.
public struct MemoryBreakdown: Hashable, Codable, Sendable {
    public var weightsBytes: Double
    public var gradientsBytes: Double
    public var optimizerBytes: Double
    public var activationsBytes: Double
    /// Sum of the four above: what one accelerator holds.
    public var perAcceleratorBytes: Double
    /// `perAcceleratorBytes` × accelerators.
    public var totalBytes: Double
    public var capacityBytes: Double
    /// Capacity minus need; negative when it does not fit.
    public var marginBytes: Double
}

/// Whether tensor parallelism will wait on its all-reduces.
public struct TensorParallelCheck: Hashable, Codable, Sendable {
    /// FLOPs per byte a tensor-parallel layer communicates: 6·(h/t)/bytesPerParam.
    public var computePerByte: Double
    /// Peak FLOP/s ÷ link bytes/s: the intensity needed to hide communication.
    public var machineBalance: Double
    public var communicationBound: Bool
    /// Largest power-of-two t (dividing the heads, within a node) that is not communication-bound.
    public var largestEfficientTensor: Int?
}

/// Failure model: Young/Daly checkpoint interval and the effective training time ratio it gives.
public struct Reliability: Hashable, Codable, Sendable {
    public var clusterMTBFHours: Double
    /// √(2·C·MTBF), C the checkpoint write time.
    public var checkpointIntervalMinutes: Double
    /// 1 − (interval/2 + restart)/MTBF: each failure loses half an interval of work plus the restart.
    public var expectedETTR: Double
    /// Failures expected over the whole run at this MTBF.
    public var expectedFailures: Double
}
