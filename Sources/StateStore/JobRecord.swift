import Foundation
import GRDB
import RingmasterModel

/// A row of `job`: a submitted manifest and where it stands.
public struct JobRecord: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "job"

    public var id: JobID
    /// Random hex, unique across controllers and state directories (empty for jobs from before it existed).
    public var uid: String
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

    /// The job's identity beyond this store: `<id>.<uid>` (just `<id>` for jobs from before uids). Its
    /// checkpoint folder is `<checkpoint.dir>/<identity>`, and its `COMMITTED` markers name it.
    public var identity: String { Self.identity(id: id, uid: uid) }

    /// A fresh uid: 48 random bits as 12 hex digits.
    public static func newUID<G: RandomNumberGenerator>(using generator: inout G) -> String {
        let v = UInt64.random(in: 0..<(1 << 48), using: &generator)
        let hex = String(v, radix: 16)
        return String(repeating: "0", count: 12 - hex.count) + hex
    }

    public static func newUID() -> String {
        var g = SystemRandomNumberGenerator()
        return newUID(using: &g)
    }

    public static func identity(id: JobID, uid: String) -> String { uid.isEmpty ? id.rawValue : "\(id.rawValue).\(uid)" }
}
