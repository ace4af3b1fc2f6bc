import Foundation

/// The `COMMITTED` marker of a step: written atomically once every rank's shard of the step is durable.
/// The controller writes it for multi-rank jobs; a world-size-1 run without a controller writes its own.
/// It names the job that committed the step (its identity, unique across controllers and state
/// directories), so a resume can refuse a step another job wrote.
public enum CommitMarker {
    /// What a marker says.
    public struct Marker: Codable, Hashable, Sendable {
        public var step: Int
        public var worldSize: Int
        public var committedAt: Date
        /// The identity of the job that committed it (absent in markers written before identities, and in
        /// a controller-less run's own markers).
        public var job: String?

        public init(step: Int, worldSize: Int, committedAt: Date, job: String?) {
            self.step = step
            self.worldSize = worldSize
            self.committedAt = committedAt
            self.job = job
        }
    }

    public static func write(_ layout: CheckpointLayout, step: Int, worldSize: Int, job: String? = nil, at now: Date)
        throws(CheckpointError)
    {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        let marker = Marker(step: step, worldSize: worldSize, committedAt: now, job: job)
        let json = (try? encoder.encode(marker)) ?? Data()
        try DurableFile.write(json, to: layout.commitMarker(step))
        do { try DurableFile.syncDirectory(layout.stepDirectory(step)) } catch {
            // A marker that may not survive a crash is no commit: the step stays uncommitted.
            unlink(layout.commitMarker(step))
            throw error
        }
    }

    /// Takes back a marker written just before the commit failed elsewhere (the store could not record it):
    /// a step is committed on disk only when it is committed in the store.
    public static func withdraw(_ layout: CheckpointLayout, step: Int) {
        unlink(layout.commitMarker(step))
        try? DurableFile.syncDirectory(layout.stepDirectory(step))
    }

    /// The marker of `step`; nil when there is none or it cannot be read.
    public static func read(_ layout: CheckpointLayout, step: Int) -> Marker? {
        guard let data = FileManager.default.contents(atPath: layout.commitMarker(step)) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(Marker.self, from: data)
    }

    /// The world size of the attempt that committed `step` (nil without a readable marker).
    public static func worldSize(_ layout: CheckpointLayout, step: Int) -> Int? { read(layout, step: step)?.worldSize }

    /// Keeps the newest `keep` committed steps; removes older committed steps and every uncommitted step
    /// older than the newest committed one (a step newer than it may still be being written).
    /// Returns the steps removed. For a folder only one program writes (a run without a controller); the
    /// controller uses `prune(_:keep:committed:written:)`, which touches only steps it knows.
    @discardableResult
    public static func prune(_ layout: CheckpointLayout, keep: Int) -> [Int] {
        let committed = layout.committedSteps()
        guard let newest = committed.last else { return [] }
        let kept = Set(committed.suffix(keep))
        let removed = layout.steps().filter { $0 < newest && !kept.contains($0) }
        removed.forEach { remove(layout, step: $0) }
        return removed
    }

    /// The controller's prune: of the steps the store recorded as committed for this job (`committed`),
    /// the newest `keep` stay and older ones go; of the steps this job's ranks are known to have written
    /// without a commit (`written`), those older than the newest committed one go. A step in neither set is
    /// never touched, whatever is on disk. Returns the steps removed.
    @discardableResult
    public static func prune(_ layout: CheckpointLayout, keep: Int, committed: Set<Int>, written: Set<Int>) -> [Int] {
        guard let newest = committed.max() else { return [] }
        let kept = Set(committed.sorted().suffix(keep))
        let stale = committed.subtracting(kept).union(written.subtracting(committed).filter { $0 < newest })
        let onDisk = Set(layout.steps())
        let removed = stale.intersection(onDisk).sorted()
        removed.forEach { remove(layout, step: $0) }
        return removed
    }

    /// Removes the marker first: a half-removed step must never look committed.
    private static func remove(_ layout: CheckpointLayout, step: Int) {
        unlink(layout.commitMarker(step))
        try? FileManager.default.removeItem(atPath: layout.stepDirectory(step))
    }
}

#if canImport(Glibc)
import Glibc
#endif
