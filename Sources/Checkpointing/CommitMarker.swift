import Foundation

/// The `COMMITTED` marker of a step: written atomically once every rank's shard of the step is durable.
/// The controller writes it for multi-rank jobs; a world-size-1 run without a controller writes its own.
public enum CommitMarker {
    struct Contents: Codable {
        var step: Int
        var worldSize: Int
        var committedAt: Date
    }

    public static func write(_ layout: CheckpointLayout, step: Int, worldSize: Int, at now: Date) throws(CheckpointError) {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let json = (try? encoder.encode(Contents(step: step, worldSize: worldSize, committedAt: now))) ?? Data()
        try DurableFile.write(json, to: layout.commitMarker(step))
        try DurableFile.syncDirectory(layout.stepDirectory(step))
    }

    /// The world size of the attempt that committed `step` (nil without a readable marker).
    public static func worldSize(_ layout: CheckpointLayout, step: Int) -> Int? {
        guard let data = FileManager.default.contents(atPath: layout.commitMarker(step)) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return (try? decoder.decode(Contents.self, from: data))?.worldSize
    }

    /// Keeps the newest `keep` committed steps; removes older committed steps and every uncommitted step
    /// older than the newest committed one (a step newer than it may still be being written).
    /// Returns the steps removed.
    @discardableResult
    public static func prune(_ layout: CheckpointLayout, keep: Int) -> [Int] {
        let committed = layout.committedSteps()
        guard let newest = committed.last else { return [] }
        let kept = Set(committed.suffix(keep))
        let removed = layout.steps().filter { $0 < newest && !kept.contains($0) }
        for step in removed {
            // Remove the marker first: a half-removed step must never look committed.
            unlink(layout.commitMarker(step))
            try? FileManager.default.removeItem(atPath: layout.stepDirectory(step))
        }
        return removed
    }
}

#if canImport(Glibc)
import Glibc
#endif
