/// Activation recomputation strategy (Korthikanti et al., "Reducing Activation Recomputation in Large
/// Transformer Models", 2022).
public enum ActivationRecompute: String, Hashable, Codable, Sendable, CaseIterable {
    case none, selective, full
}

/// Pipeline schedule; decides how many micro-batches' activations a stage holds at once.
public enum PipelineSchedule: String, Hashable, Codable, Sendable, CaseIterable {
    case oneFOneB = "1f1b"
    case gpipe
}

/// Shape of a transformer model for the capacity planner.
public struct ModelShape: Hashable, Codable, Sendable {
    public var parameters: Double
    public var layers: Int
    public var hiddenSize: Int
    public var heads: Int
    public var sequenceLength: Int
    public var microBatchSize: Int
    /// Micro-batches per pipeline flush (per data-parallel replica).
    public var microBatches: Int
    public var trainingTokens: Double
    public var recompute: ActivationRecompute
    public var schedule: PipelineSchedule
    /// ZeRO stage 0–3: 1 shards optimizer state over data parallelism, 2 also gradients, 3 also weights.
    public var zeroStage: Int
    /// Megatron sequence parallelism: layer-norm and dropout activations are split over the tensor group too.
    public var sequenceParallel: Bool

    public init(
        parameters: Double, layers: Int, hiddenSize: Int, heads: Int, sequenceLength: Int,
        microBatchSize: Int = 1, microBatches: Int = 1, trainingTokens: Double,
        recompute: ActivationRecompute = .selective, schedule: PipelineSchedule = .oneFOneB, zeroStage: Int = 0,
        sequenceParallel: Bool = false
    ) {
        self.parameters = parameters
        self.layers = layers
        self.hiddenSize = hiddenSize
        self.heads = heads
        self.sequenceLength = sequenceLength
        self.microBatchSize = microBatchSize
        self.microBatches = microBatches
        self.trainingTokens = trainingTokens
        self.recompute = recompute
        self.schedule = schedule
        self.zeroStage = zeroStage
        self.sequenceParallel = sequenceParallel
    }
}

/// Accelerator and cluster figures for the capacity planner.
public struct HardwareProfile: Hashable, Codable, Sendable {
    /// Peak dense 16-bit FLOP/s of one accelerator.
    public var peakFLOPS: Double
    /// Memory of one accelerator in bytes.
    public var memoryBytes: Double
    /// Intra-node link bandwidth per accelerator in GB/s (NVLink, xGMI, …).
    public var intraNodeLinkGBps: Double
    /// Model FLOPs utilisation expected, 0–1.
    public var mfu: Double
    /// Mean time between failures of one accelerator (with its share of host, network, software).
    public var mtbfPerAccelerator: Duration
    /// Time to write one checkpoint.
    public var checkpointWrite: Duration
    /// Time from a failure to training again (detection, teardown, relaunch, restore).
    public var restart: Duration
    /// Accelerators in one node; bounds tensor parallelism in the minimum-size search.
    public var acceleratorsPerNode: Int

    public init(
        peakFLOPS: Double, memoryBytes: Double, intraNodeLinkGBps: Double, mfu: Double,
        mtbfPerAccelerator: Duration, checkpointWrite: Duration, restart: Duration, acceleratorsPerNode: Int = 8
    ) {
        self.peakFLOPS = peakFLOPS
        self.memoryBytes = memoryBytes
        self.intraNodeLinkGBps = intraNodeLinkGBps
        self.mfu = mfu
        self.mtbfPerAccelerator = mtbfPerAccelerator
        self.checkpointWrite = checkpointWrite
        self.restart = restart
        self.acceleratorsPerNode = acceleratorsPerNode
    }
}
