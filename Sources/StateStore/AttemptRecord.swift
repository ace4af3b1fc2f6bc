import Foundation
import GRDB
import RingmasterModel

/// A row of `attempt`: one launch of every rank of a job.
public struct AttemptRecord: Codable, Hashable, Sendable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "attempt"

    public var id: Int64?
    public var jobId: JobID
    /// 1 for the first launch, +1 per restart.
    public var number: Int
    public var state: AttemptState
    /// Secret ranks of this attempt present to the rendezvous and each other.
    public var token: AttemptToken
    /// Committed step the attempt resumes from; nil on a fresh start.
    public var resumeStep: Int?
    public var placement: Placement
    public var startedAt: Date
    public var endedAt: Date?
    public var endReason: String?

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}
