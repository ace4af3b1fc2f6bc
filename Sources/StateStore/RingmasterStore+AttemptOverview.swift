import Foundation
import GRDB
import RingmasterModel

/// An attempt as the job's page shows it: its row without the placement (4,096 ranks of JSON at 512 nodes,
/// which cost the job's `GET` most of its time when every attempt's was decoded), the layout it ran and the
/// nodes it used, in rank order.
public struct AttemptOverview: Sendable, Equatable, Decodable, FetchableRecord {
    public var id: Int64
    public var number: Int
    public var state: AttemptState
    public var resumeStep: Int?
    public var startedAt: Date
    public var endedAt: Date?
    public var endReason: String?
    public var parallelism: Parallelism
    /// Each node once, in the order of its first rank.
    public var nodes: [NodeID] = []

    private enum CodingKeys: String, CodingKey {
        case id, number, state, resumeStep, startedAt, endedAt, endReason, parallelism
    }
}

extension RingmasterStore {
    /// A job's attempts, oldest first: two queries, no placement decoded.
    public func attemptOverviews(of job: JobID) throws -> [AttemptOverview] {
        try read { db in
            var overviews = try AttemptOverview.fetchAll(db, sql: """
                SELECT id, number, state, resumeStep, startedAt, endedAt, endReason,
                  json_extract(placement, '$.parallelism') AS parallelism
                FROM attempt WHERE jobId = ? ORDER BY number
                """, arguments: [job.rawValue])
            var nodes: [Int64: [NodeID]] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT attemptId, nodeId FROM rank WHERE attemptId IN (SELECT id FROM attempt WHERE jobId = ?)
                GROUP BY attemptId, nodeId ORDER BY attemptId, MIN(rank)
                """, arguments: [job.rawValue]) {
                nodes[row["attemptId"], default: []].append(NodeID(row["nodeId"] as String))
            }
            for i in overviews.indices { overviews[i].nodes = nodes[overviews[i].id] ?? [] }
            return overviews
        }
    }

    /// The newest attempt's row id and layout, for paging through its ranks (one row, nothing else read).
    public func newestAttemptLayout(of job: JobID) throws -> (id: Int64, parallelism: Parallelism)? {
        try read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT id, json_extract(placement, '$.parallelism') AS parallelism
                FROM attempt WHERE jobId = ? ORDER BY number DESC LIMIT 1
                """, arguments: [job.rawValue]) else { return nil }
            return (row["id"], try JSONDecoder().decode(Parallelism.self, from: Data((row["parallelism"] as String).utf8)))
        }
    }

    /// `limit` ranks of an attempt from rank `offset` on, by rank (all from `offset` when `limit` is nil).
    public func ranks(of attempt: Int64, offset: Int, limit: Int?) throws -> [RankRecord] {
        try read { db in
            try RankRecord.filter(Column("attemptId") == attempt && Column("rank") >= offset).order(Column("rank"))
                .limit(limit ?? Int.max).fetchAll(db)
        }
    }

    /// How many ranks an attempt has.
    public func rankCount(of attempt: Int64) throws -> Int {
        try read { db in try RankRecord.filter(Column("attemptId") == attempt).fetchCount(db) }
    }
}
