import Foundation
import GRDB
import RingmasterModel

/// A row of `job`: a submitted manifest and where it stands.
public struct JobRecord: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "job"

    public var id: JobID
    /// Store-wide submission number; the id is `<name>-<seq>`.
    public var seq: Int
    public var name: String
    public var state: JobState
    /// Why the job is in its state (pending reason, failure cause), for `ringmaster status`.
    public var reason: String?
    /// The validated spec, as JSON.
    public var spec: JobSpec
    /// The manifest text as submitted.
    public var manifest: String
    public var manifestPath: String
    /// Restarts spent from the budget (`failure.maxRestarts`).
    public var restarts: Int
    public var submittedAt: Date
    public var updatedAt: Date
}
