import Foundation
import GRDB
import RingmasterModel

/// The columns of an attempt row that a job's summary needs: not its placement, whose decoding was most
/// of the job list's time.
public struct AttemptSummary: Codable, Hashable, Sendable, FetchableRecord, TableRecord {
    public static let databaseTableName = "attempt"
    public static var databaseSelection: [any SQLSelectable] {
        [Column("id"), Column("jobId"), Column("number"), Column("state"), Column("resumeStep"), Column("startedAt"), Column("endedAt")]
    }

    public var id: Int64
    public var jobId: JobID
    public var number: Int
    public var state: AttemptState
    public var resumeStep: Int?
    public var startedAt: Date
    public var endedAt: Date?
}

/// What a job's summary shows besides its own row: its attempts, how far each got, its newest committed
/// step.
public struct JobFacts: Sendable, Equatable {
    /// Oldest first.
    public var attempts: [AttemptSummary]
    /// The highest `lastStep` any rank reported, per attempt row id (absent before the first step).
    public var reached: [Int64: Int]
    public var newestCommittedStep: Int?

    public init(attempts: [AttemptSummary] = [], reached: [Int64: Int] = [:], newestCommittedStep: Int? = nil) {
        self.attempts = attempts
        self.reached = reached
        self.newestCommittedStep = newestCommittedStep
    }
}

extension RingmasterStore {
    /// One job's facts, in one read.
    public func facts(of job: JobID) throws -> JobFacts {
        try read { db in
            let attempts = try AttemptSummary.filter(Column("jobId") == job.rawValue).order(Column("number")).fetchAll(db)
            let reached = try Self.reached(db, "JOIN attempt ON attempt.id = rank.attemptId WHERE attempt.jobId = ?", [job.rawValue])
            let newest = try Int.fetchOne(db, sql: "SELECT MAX(step) FROM checkpoint WHERE jobId = ? AND state = 'committed'",
                                          arguments: [job.rawValue])
            return JobFacts(attempts: attempts, reached: reached, newestCommittedStep: newest)
        }
    }

    /// Every job, newest first, with its facts: four queries in one read, however many jobs there are
    /// (the job list made four or more per job before, and spent most of its time on them).
    public func jobsWithFacts() throws -> [(job: JobRecord, facts: JobFacts)] {
        try read { db in
            let jobs = try JobRecord.order(Column("seq").desc).fetchAll(db)
            let all = try AttemptSummary.order(Column("jobId"), Column("number")).fetchAll(db)
            let attempts = Dictionary(grouping: all, by: \.jobId)
            let jobOf = Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0.jobId) })
            var reached: [JobID: [Int64: Int]] = [:]
            for (attempt, step) in try Self.reached(db, "", []) {
                if let job = jobOf[attempt] { reached[job, default: [:]][attempt] = step }
            }
            var newest: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT jobId, MAX(step) AS step FROM checkpoint WHERE state = 'committed' GROUP BY jobId") {
                newest[row["jobId"]] = row["step"]
            }
            return jobs.map { job in
                (job, JobFacts(attempts: attempts[job.id] ?? [], reached: reached[job.id] ?? [:],
                               newestCommittedStep: newest[job.id.rawValue]))
            }
        }
    }

    /// `MAX(lastStep)` per attempt of the ranks the clause selects.
    private static func reached(_ db: Database, _ clause: String, _ arguments: StatementArguments) throws -> [Int64: Int] {
        var out: [Int64: Int] = [:]
        let sql = "SELECT rank.attemptId AS id, MAX(rank.lastStep) AS step FROM rank \(clause) GROUP BY rank.attemptId"
        for row in try Row.fetchAll(db, sql: sql, arguments: arguments) {
            if let step: Int = row["step"] { out[row["id"]] = step }
        }
        return out
    }

    /// How many jobs are in each state, and the restarts of all of them (for `/metrics`, without reading
    /// every job's manifest).
    public func jobCounts() throws -> (byState: [JobState: Int], restarts: Int) {
        try read { db in
            var counts: [JobState: Int] = [:]
            var restarts = 0
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n, SUM(restarts) AS r FROM job GROUP BY state") {
                if let state = JobState(rawValue: row["state"]) { counts[state] = row["n"] }
                restarts += row["r"] ?? 0
            }
            return (counts, restarts)
        }
    }
}
