import RingmasterModel

/// Reading of the planner's optional `model:` and `hardware:` sections.
struct ModelFields {
    let reader: ManifestReader

    static let modelKeys = ["parameters", "layers", "hiddenSize", "heads", "sequenceLength", "microBatchSize",
                            "microBatches", "trainingTokens", "recompute", "schedule", "zeroStage", "sequenceParallel"]
    static let hardwareKeys = ["peakFLOPS", "memory", "intraNodeLinkGBps", "mfu", "mtbfPerAccelerator",
                               "checkpointWrite", "restart", "acceleratorsPerNode"]

    func readModel(_ field: YAMLField, parallelism: Parallelism?) -> ModelShape? {
        guard let map = field.map(allowed: Self.modelKeys) else { return nil }
        let parameters = map.required("parameters", hint: "e.g. `parameters: 70B`")?
            .number(suffixes: true, greaterThan: 0)
        let layers = map.required("layers", hint: "transformer blocks, e.g. `layers: 80`")?.int(min: 1)
        let hidden = map.required("hiddenSize", hint: "model width, e.g. `hiddenSize: 8192`")?.int(min: 1)
        let heads = map.required("heads", hint: "attention heads, e.g. `heads: 64`")?.int(min: 1)
        let sequence = map.required("sequenceLength", hint: "tokens per sample, e.g. `sequenceLength: 4096`")?.int(min: 1)
        let microBatchSize = map.field("microBatchSize").map { $0.int(min: 1) } ?? 1
        let microBatches = map.field("microBatches").map { $0.int(min: 1) } ?? 1
        let tokens = map.required("trainingTokens", hint: "e.g. `trainingTokens: 2T`")?
            .number(suffixes: true, greaterThan: 0)
        let recompute = map.field("recompute").map { $0.oneOf(ActivationRecompute.self) } ?? .selective
        let schedule = map.field("schedule").map { $0.oneOf(PipelineSchedule.self) } ?? .oneFOneB
        let sequenceParallel = map.field("sequenceParallel").map { $0.bool() } ?? false
        let zero = map.field("zeroStage").map { $0.int(min: 0, max: 3, hint: "ZeRO stages are 0, 1, 2 and 3") } ?? 0

        if let hidden, let heads, hidden % heads != 0, let f = map.field("heads") {
            reader.error(at: f.line, f.path, "hiddenSize \(hidden) is not divisible by \(heads) heads",
                         hint: "every head needs the same width")
        }
        if let heads, let t = parallelism?.tensor, heads % t != 0, let f = map.field("heads") {
            reader.error(at: f.line, f.path, "\(heads) heads cannot be split over tensor parallelism \(t)",
                         hint: "make parallelism.tensor divide the head count")
        }
        guard let parameters, let layers, let hidden, let heads, let sequence, let microBatchSize, let microBatches,
              let tokens, let recompute, let schedule, let zero, let sequenceParallel
        else { return nil }
        return ModelShape(
            parameters: parameters, layers: layers, hiddenSize: hidden, heads: heads, sequenceLength: sequence,
            microBatchSize: microBatchSize, microBatches: microBatches, trainingTokens: tokens,
            recompute: recompute, schedule: schedule, zeroStage: zero,
            sequenceParallel: sequenceParallel)
    }

    func readHardware(_ field: YAMLField) -> HardwareProfile? {
        guard let map = field.map(allowed: Self.hardwareKeys) else { return nil }
        let peak = map.required("peakFLOPS", hint: "dense 16-bit FLOP/s of one accelerator, e.g. `peakFLOPS: 989T`")?
            .number(suffixes: true, greaterThan: 0)
        let memory = map.required("memory", hint: "memory of one accelerator, e.g. `memory: 80GiB`")?.bytes()
        let link = map.required("intraNodeLinkGBps", hint: "per-accelerator NVLink/xGMI GB/s, e.g. 450")?
            .number(greaterThan: 0)
        let mfu = map.required("mfu", hint: "expected model FLOPs utilisation, e.g. `mfu: 0.4`")?
            .number(greaterThan: 0, atMost: 1, hint: "a fraction between 0 and 1")
        let mtbf = map.field("mtbfPerAccelerator").map { $0.duration() } ?? .seconds(50_000 * 3600)
        let write = map.field("checkpointWrite").map { $0.duration() } ?? .seconds(30)
        let restart = map.field("restart").map { $0.duration(allowZero: true) } ?? .seconds(600)
        let perNode = map.field("acceleratorsPerNode").map { $0.int(min: 1) } ?? 8
        guard let peak, let memory, let link, let mfu, let mtbf, let write, let restart, let perNode else { return nil }
        return HardwareProfile(
            peakFLOPS: peak, memoryBytes: memory, intraNodeLinkGBps: link, mfu: mfu, mtbfPerAccelerator: mtbf,
            checkpointWrite: write, restart: restart, acceleratorsPerNode: perNode)
    }
}
