import Foundation

/// Rank-side step checkpoints: `save` writes this rank's shard durably (synchronously, or on a
/// background thread after the caller's snapshot), then reports `checkpoint N`; `load` verifies it.
public final class Checkpointer: @unchecked Sendable {
    /// What a save that cannot be written (a full disk, lost permissions) does.
    public enum WriteFailurePolicy: Sendable {
        /// `save` throws it (in async mode the next `save` or `flush` does): the caller decides.
        case raise
        /// The save is dropped: its partial shard removed, `checkpoint-failed N REASON` reported, the
        /// failure counted and handed to `onFailedSave`, and training goes on. The step is never committed;
        /// the newest committed step stays the one to resume from.
        case reportAndContinue
    }

    public struct Options: Sendable {
        public var directory: String
        public var rank: Int
        public var worldSize: Int
        /// Committed steps kept when this process commits itself.
        public var keep: Int
        public var async: Bool
        /// Sends `checkpoint N` after each durable shard (nil in a plain local run).
        public var reporter: RankReporter?
        /// Write `COMMITTED` and prune here: only for world size 1 without a controller.
        public var commitLocally: Bool
        public var onWriteFailure: WriteFailurePolicy
        /// With `reportAndContinue`: called (on the writing thread) with the step and why it was not saved.
        public var onFailedSave: @Sendable (Int, CheckpointError) -> Void

        public init(directory: String, rank: Int, worldSize: Int, keep: Int = 3, async: Bool = true,
                    reporter: RankReporter? = nil, commitLocally: Bool? = nil, onWriteFailure: WriteFailurePolicy = .raise,
                    onFailedSave: @escaping @Sendable (Int, CheckpointError) -> Void = { _, _ in }) {
            self.directory = directory
            self.rank = rank
            self.worldSize = worldSize
            self.keep = keep
            self.async = async
            self.reporter = reporter
            self.commitLocally = commitLocally ?? (reporter == nil && worldSize == 1)
            self.onWriteFailure = onWriteFailure
            self.onFailedSave = onFailedSave
        }
    }

    /// Totals for the overhead benchmark.
    public struct Statistics: Sendable {
        public var saves = 0
        public var bytes = 0
        /// Time spent writing (on the background thread in async mode).
        public var writeTime = Duration.zero
        /// Time the training thread waited for the previous save (async back-pressure).
        public var waitTime = Duration.zero
        /// Saves dropped because they could not be written (`reportAndContinue`), and the newest one's step.
        public var failedSaves = 0
        public var lastFailedStep: Int?
    }

    public let options: Options
    public let layout: CheckpointLayout
    private let writer: BackgroundWriter?
    private let lock = NSLock()
    private var stats = Statistics()
    var afterFile: @Sendable (String) -> Void = { _ in }

    public init(_ options: Options) {
        self.options = options
        self.layout = CheckpointLayout(directory: options.directory)
        self.writer = options.async ? BackgroundWriter(name: "checkpoint-writer-\(options.rank)") : nil
    }

    deinit { writer?.close() }

    public var statistics: Statistics { lock.withLock { stats } }

    /// Saves `snapshot` (already a copy the caller will not mutate). In async mode this returns as soon
    /// as the previous save has finished; the write happens on the background thread.
    public func save(_ snapshot: CheckpointSnapshot) throws {
        guard let writer else {
            try persist(snapshot)
            return
        }
        let waited = try writer.submit { [self] in try persist(snapshot) }
        lock.withLock { stats.waitTime += waited }
    }

    /// Waits for an in-flight async save; throws its error.
    public func flush() throws { try writer?.drain() }

    /// Loads and verifies this rank's shard of `step` (or `rank`'s, when the step was written by another layout).
    public func load(step: Int, rank: Int? = nil) throws(CheckpointError) -> CheckpointSnapshot {
        try ShardReader(layout: layout, rank: rank ?? options.rank).read(step: step)
    }

    /// The newest committed step, for a plain local run that resumes by itself.
    public func newestCommittedStep() -> Int? { layout.committedSteps().last }

    private func persist(_ snapshot: CheckpointSnapshot) throws {
        do {
            try write(snapshot)
        } catch let error as CheckpointError {
            guard options.onWriteFailure == .reportAndContinue, case .writeFailed = error else { throw error }
            lock.withLock {
                stats.failedSaves += 1
                stats.lastFailedStep = snapshot.step
            }
            options.reporter?.checkpointFailed(snapshot.step, "\(error)")
            options.onFailedSave(snapshot.step, error)
        }
    }

    private func write(_ snapshot: CheckpointSnapshot) throws {
        let clock = ContinuousClock()
        let start = clock.now
        var shard = ShardWriter(layout: layout, rank: options.rank, worldSize: options.worldSize)
        shard.afterFile = afterFile
        try shard.write(snapshot)
        if options.commitLocally {
            try CommitMarker.write(layout, step: snapshot.step, worldSize: options.worldSize, at: Date())
            CommitMarker.prune(layout, keep: options.keep)
        }
        options.reporter?.checkpoint(snapshot.step)
        let elapsed = clock.now - start
        lock.withLock {
            stats.saves += 1
            stats.bytes += snapshot.byteCount
            stats.writeTime += elapsed
        }
    }
}

extension Checkpointer {
    /// Pauses after each blob file is durable; crash tests kill the process there.
    @_spi(Testing)
    public func setAfterFileHook(_ hook: @escaping @Sendable (String) -> Void) { afterFile = hook }

    /// Called when `save` has to wait for the save in flight (async back-pressure).
    @_spi(Testing)
    public func setBackPressureHook(_ hook: @escaping @Sendable () -> Void) { writer?.onWait = hook }
}
