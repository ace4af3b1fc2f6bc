import Checkpointing
import Foundation
import RingmasterModel

/// What a training run does, from flags or the rank environment.
public struct TrainingOptions: Sendable {
    public var model: ModelConfig
    public var seed: UInt64
    public var steps: Int
    /// Sequences per step over all data-parallel replicas.
    public var globalBatch: Int
    /// Micro-batches per step per replica (GPipe schedule).
    public var microBatches: Int
    public var learningRate: Float
    public var checkpointEvery: Int?
    public var checkpointDir: String?
    public var keep: Int
    public var asyncCheckpoint: Bool

    public init(model: ModelConfig = .tiny, seed: UInt64 = 1, steps: Int = 200, globalBatch: Int = 16,
                microBatches: Int = 2, learningRate: Float = 3e-3, checkpointEvery: Int? = nil,
                checkpointDir: String? = nil, keep: Int = 3, asyncCheckpoint: Bool = true) {
        self.model = model
        self.seed = seed
        self.steps = steps
        self.globalBatch = globalBatch
        self.microBatches = microBatches
        self.learningRate = learningRate
        self.checkpointEvery = checkpointEvery
        self.checkpointDir = checkpointDir
        self.keep = keep
        self.asyncCheckpoint = asyncCheckpoint
    }
}

public struct TrainerError: Error, CustomStringConvertible {
    public var description: String
}

/// One rank of a data × pipeline × tensor parallel training run.
public final class Trainer {
    public let options: TrainingOptions
    public let layout: Parallelism
    public let coordinates: RankCoordinates
    public let model: StageModel
    let groups: RankGroups
    let corpus: SyntheticCorpus
    public private(set) var loader: DataLoader
    public private(set) var step = 0
    /// Time the training thread spent in `saveCheckpoint` (snapshot copies and async back-pressure):
    /// the checkpoint overhead training actually pays.
    public private(set) var checkpointStall = Duration.zero
    let optimizer: Adam
    /// Averages gradients over the data group during the last micro-batch's backward pass.
    let gradientSync: GradientSync?
    let checkpointer: Checkpointer?
    let reporter: RankReporter?

    public init(options: TrainingOptions, layout: Parallelism, coordinates: RankCoordinates, groups: RankGroups,
                rank: Int, reporter: RankReporter? = nil) throws {
        let m = options.model
        guard m.heads % layout.tensor == 0, m.mlpDim % layout.tensor == 0 else {
            throw TrainerError(description: "\(m.heads) heads cannot be split over tensor parallelism \(layout.tensor)")
        }
        guard m.layers >= layout.pipeline else {
            throw TrainerError(description: "\(m.layers) layers cannot fill \(layout.pipeline) pipeline stages")
        }
        guard options.globalBatch % (layout.data * options.microBatches) == 0 else {
            throw TrainerError(description: "global batch \(options.globalBatch) must divide into data \(layout.data) "
                + "× \(options.microBatches) micro-batches")
        }
        self.options = options
        self.layout = layout
        self.coordinates = coordinates
        self.groups = groups
        self.reporter = reporter
        model = StageModel(config: m, seed: options.seed, stage: coordinates.pp, stages: layout.pipeline,
                           tensor: groups.tensor)
        corpus = SyntheticCorpus(seed: options.seed, vocab: m.vocab, seqLen: m.seqLen)
        loader = DataLoader(seed: options.seed)
        optimizer = Adam(learningRate: options.learningRate)
        gradientSync = layout.data > 1 ? GradientSync(group: groups.data) : nil
        if let dir = options.checkpointDir, options.checkpointEvery != nil {
            // A save that cannot be written (a full disk) is reported and skipped: training goes on, and the
            // controller decides what the uncommitted step means for the job.
            checkpointer = Checkpointer(.init(
                directory: dir, rank: rank, worldSize: layout.worldSize, keep: options.keep, async: options.asyncCheckpoint,
                reporter: reporter, onWriteFailure: .reportAndContinue, onFailedSave: { step, error in
                    FileHandle.standardError.write(Data("rank \(rank): checkpoint step \(step) not saved: \(error)\n".utf8))
                }))
        } else {
            checkpointer = nil
        }
    }

    deinit { gradientSync?.close() }

    /// Runs one optimizer step; returns the step's loss averaged over data parallelism on the last
    /// pipeline stage, nil elsewhere.
    @discardableResult
    public func trainStep() throws -> Float? {
        let m = options.model
        let replicaBatch = options.globalBatch / layout.data
        let microBatch = replicaBatch / options.microBatches
        let ids = loader.nextBatch(options.globalBatch)
        let mine = Array(ids[(coordinates.dp * replicaBatch)..<((coordinates.dp + 1) * replicaBatch)])
        let activation = microBatch * m.seqLen * m.dModel
        let pipe = groups.pipeline
        model.params.zeroGrad()

        // GPipe: every micro-batch forward, then every micro-batch backward in reverse.
        var caches: [StageModel.Cache] = []
        var logitGrads: [[Float]] = []
        var loss: Float = 0
        for mb in 0..<options.microBatches {
            let samples = mine[(mb * microBatch)..<((mb + 1) * microBatch)].map(corpus.sample)
            var input: [Float]?
            if !model.isFirst {
                var buffer = [Float](repeating: 0, count: activation)
                try pipe.recv(&buffer, from: pipe.rank - 1)
                input = buffer
            }
            let (out, cache) = try model.forward(tokens: samples.flatMap(\.inputs), input: input, batch: microBatch)
            caches.append(cache)
            if model.isLast {
                let (l, g) = softmaxCrossEntropy(out, targets: samples.flatMap(\.targets), rows: microBatch * m.seqLen,
                                                 vocab: m.vocab, scale: 1 / Float(options.microBatches))
                loss += l / Float(options.microBatches)
                logitGrads.append(g)
            } else {
                try pipe.send(out, to: pipe.rank + 1)
            }
        }
        for mb in (0..<options.microBatches).reversed() {
            var dOut: [Float]
            if model.isLast {
                dOut = logitGrads[mb]
            } else {
                dOut = [Float](repeating: 0, count: activation)
                try pipe.recv(&dOut, from: pipe.rank + 1)
            }
            // Data parallelism: during the last micro-batch's pass, each group of parameters whose
            // gradients are final is averaged over the replicas on the sync thread, overlapping the
            // rest of the backward pass (and the send of its result to the previous stage).
            let last = mb == 0
            let dIn = try model.backward(dOut, cache: caches[mb]) { bucket in
                if last { gradientSync?.enqueue(bucket) }
            }
            if let dIn { try pipe.send(dIn, to: pipe.rank - 1) }
        }
        try gradientSync?.finish()
        step += 1
        optimizer.update(model.params, step: step)
        guard model.isLast else { return nil }
        var mean = [loss]
        try groups.data.allReduceSum(&mean)
        return mean[0] / Float(layout.data)
    }

    /// Trains to `options.steps`, reporting every step and checkpointing every `checkpointEvery` steps and at
    /// the step a `checkpoint-now` request names.
    public func run(onStep: (Int, Float?) -> Void = { _, _ in }) throws {
        // A controller's `checkpoint-now STEP` (a Slurm time limit): every rank saves that step; one that
        // arrives after the step passed is ignored (the controller asks again for a later one).
        var requested: Int?
        while step < options.steps {
            let loss = try trainStep()
            reporter?.step(step)
            if let loss, coordinates.tp == 0 { reporter?.metric("loss", Double(loss)) }
            onStep(step, loss)
            if let asked = reporter?.checkpointRequest(), asked >= step { requested = asked }
            let now = requested == step
            if now { requested = nil }
            if let every = options.checkpointEvery, step % every == 0 || now {
                let start = ContinuousClock.now
                try saveCheckpoint()
                checkpointStall += ContinuousClock.now - start
            }
        }
        try checkpointer?.flush()
    }

    /// Snapshots parameters, Adam moments, data position and RNG state (three blobs, each every
    /// parameter of this rank concatenated in order: few files, few fsyncs).
    public func saveCheckpoint() throws {
        guard let checkpointer else { return }
        let params = model.params.all
        let blobs = [
            "parameters": CheckpointSnapshot.blob(params.flatMap(\.value)),
            "adam-m": CheckpointSnapshot.blob(params.flatMap(\.m)),
            "adam-v": CheckpointSnapshot.blob(params.flatMap(\.v)),
        ]
        try checkpointer.save(CheckpointSnapshot(step: step, blobs: blobs, dataPosition: loader.cursor,
                                                 rngState: [loader.rng.state]))
    }

    /// Waits for an in-flight checkpoint write (also after a failure: the snapshot is still good).
    public func flushCheckpoints() throws { try checkpointer?.flush() }

    /// Saves, bytes and background write time so far (nil without checkpoints).
    public var checkpointStatistics: Checkpointer.Statistics? { checkpointer?.statistics }

    /// Restores parameters, optimizer moments, data position and RNG state of `step`. A step written with
    /// another data-parallel size (the job shrank or grew) is read from the shard of the rank with the same
    /// tensor and pipeline coordinates: data-parallel replicas hold identical parameters and moments, and
    /// the loader's position is global.
    public func resume(from step: Int) throws {
        guard let checkpointer else { throw TrainerError(description: "resuming needs a checkpoint directory") }
        var source: Int?
        let world = layout.data * layout.pipeline * layout.tensor
        if let written = CommitMarker.worldSize(checkpointer.layout, step: step), written != world,
           written % (layout.tensor * layout.pipeline) == 0 {
            let oldData = written / (layout.tensor * layout.pipeline)
            source = coordinates.tp + layout.tensor * (coordinates.dp % oldData + oldData * coordinates.pp)
        }
        let snapshot = try checkpointer.load(step: step, rank: source)
        let params = model.params.all
        let total = params.reduce(0) { $0 + $1.value.count }
        func floats(_ name: String) throws -> [Float] {
            guard let data = snapshot.blobs[name], data.count == total * MemoryLayout<Float>.size else {
                throw CheckpointError.corrupt(step: step, file: name)
            }
            return CheckpointSnapshot.values(data, as: Float.self)
        }
        let (values, m, v) = (try floats("parameters"), try floats("adam-m"), try floats("adam-v"))
        var offset = 0
        for p in params {
            let range = offset..<(offset + p.value.count)
            p.value = Array(values[range])
            p.m = Array(m[range])
            p.v = Array(v[range])
            offset = range.upperBound
        }
        loader.cursor = snapshot.dataPosition
        loader.rng.state = snapshot.rngState.first ?? loader.rng.state
        self.step = step
    }
}
