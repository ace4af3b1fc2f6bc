import Foundation
import GRDB
import RingmasterModel

/// A rank's event (`rank.started`, `rank.exited`) through one prepared statement: the same row
/// `EventRecord.insert` writes, for the thousands a large attempt's launch and teardown write at once.
struct RankEventInsert {
    let statement: Statement

    init(_ db: Database) throws {
        statement = try db.cachedStatement(sql: """
            INSERT INTO event (time, kind, jobId, attemptId, nodeId, rank, message) VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
    }

    func insert(time: Date, kind: EventKind, job: JobID?, attempt: Int64, node: String, rank: Int, message: String) throws {
        guard kind.isWellFormed else { throw StoreError.malformedEventKind(kind.rawValue) }
        try statement.execute(arguments: [time, kind.rawValue, job?.rawValue, attempt, node, rank, message])
    }
}
