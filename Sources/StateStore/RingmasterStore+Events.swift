import Foundation
import GRDB
import RingmasterModel

extension RingmasterStore {
    /// Appends one event in its own transaction.
    @discardableResult
    public func recordEvent(_ event: EventRecord) throws -> EventRecord {
        try transaction { db in try Self.insert(event, db) }
    }

    /// Appends many events in one transaction (all or none).
    public func recordEvents(_ events: [EventRecord]) throws {
        try transaction { db in
            for e in events { try Self.insert(e, db) }
        }
    }

    /// Events with an id above `after`, oldest first, optionally for one job.
    public func events(after: Int64 = 0, job: JobID? = nil, limit: Int = 1000) throws -> [EventRecord] {
        try read { db in
            var request = EventRecord.filter(Column("id") > after)
            if let job { request = request.filter(Column("jobId") == job.rawValue) }
            return try request.order(Column("id")).limit(limit).fetchAll(db)
        }
    }

    /// Every event of these kinds (and for `job`), oldest first: what the failure timeline reads.
    public func events(kinds: Set<EventKind>, job: JobID? = nil) throws -> [EventRecord] {
        try read { db in
            var request = EventRecord.filter(kinds.map(\.rawValue).contains(Column("kind")))
            if let job { request = request.filter(Column("jobId") == job.rawValue) }
            return try request.order(Column("id")).fetchAll(db)
        }
    }

    public func eventCount() throws -> Int {
        try read { db in try EventRecord.fetchCount(db) }
    }
}
