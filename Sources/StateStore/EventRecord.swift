import Foundation
import GRDB
import RingmasterModel

/// A row of `event`: something that happened, with its time, its subjects and why.
public struct EventRecord: Codable, Hashable, Sendable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "event"

    public var id: Int64?
    public var time: Date
    public var kind: EventKind
    public var jobId: JobID?
    public var attemptId: Int64?
    public var nodeId: NodeID?
    public var rank: Int?
    public var message: String
    /// Structured detail as JSON text (exit status, durations, …).
    public var payload: String?

    public init(
        time: Date, kind: EventKind, jobId: JobID? = nil, attemptId: Int64? = nil, nodeId: NodeID? = nil,
        rank: Int? = nil, message: String, payload: String? = nil
    ) {
        self.time = time
        self.kind = kind
        self.jobId = jobId
        self.attemptId = attemptId
        self.nodeId = nodeId
        self.rank = rank
        self.message = message
        self.payload = payload
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }

    /// JSON text of an encodable payload (sorted keys, so rows compare stably).
    public static func payload(_ value: some Encodable) -> String? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(value)).flatMap { String(data: $0, encoding: .utf8) }
    }
}
