import Foundation
import GRDB
import RingmasterModel

/// State of a checkpoint step of a job.
public enum CheckpointState: String, Codable, Hashable, Sendable {
    /// Every rank reported the step durable and `COMMITTED` was written: resumable.
    case committed
    /// A shard failed verification on resume: never used again.
    case corrupt
    /// Removed by retention (`checkpoint.keep`).
    case pruned
}

/// A row of `checkpoint`: one committed step of a job.
public struct CheckpointRecord: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "checkpoint"

    public var jobId: JobID
    public var step: Int
    public var attemptId: Int64
    public var state: CheckpointState
    public var dir: String
    public var committedAt: Date
}
