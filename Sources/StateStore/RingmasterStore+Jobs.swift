import Foundation
import GRDB
import RingmasterModel

extension RingmasterStore {
    /// The id the next submitted job of `name` gets (`<name>-<seq>`), for checks before `submitJob`.
    public func nextJobID(name: String) throws -> JobID {
        try read { db in JobID("\(name)-\(try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) + 1 FROM job") ?? 1)") }
    }

    /// Persists a validated job as `pending` with a new id `<name>-<seq>` and the given `uid` (random hex,
    /// see `JobRecord.uid`), and records `job.submitted`.
    public func submitJob(
        _ spec: JobSpec, manifest: String, manifestPath: String, uid: String, reason: String? = nil, at now: Date
    ) throws -> JobRecord {
        try transaction { db in
            let seq = try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) + 1 FROM job") ?? 1
            let job = JobRecord(
                id: JobID("\(spec.name)-\(seq)"), uid: uid, seq: seq, name: spec.name, state: .pending, reason: reason,
                spec: spec, manifest: manifest, manifestPath: manifestPath, restarts: 0, submittedAt: now,
                updatedAt: now)
            try job.insert(db)
            let p = spec.parallelism
            try Self.insert(EventRecord(
                time: now, kind: .jobSubmitted, jobId: job.id,
                message: "job \(job.id) submitted: \(p.worldSize) ranks (data \(p.data) × pipeline \(p.pipeline) "
                    + "× tensor \(p.tensor)) from \(manifestPath)"), db)
            return job
        }
    }

    /// Moves a job along its state machine (`JobState.canMove`), recording `job.state` with the reason.
    @discardableResult
    public func setJobState(_ id: JobID, to state: JobState, reason: String?, at now: Date) throws -> JobRecord {
        try transaction { db in try Self.moveJob(id, to: state, reason: reason, at: now, db) }
    }

    static func moveJob(_ id: JobID, to state: JobState, reason: String?, at now: Date, _ db: Database) throws
        -> JobRecord
    {
        guard var job = try JobRecord.fetchOne(db, key: id.rawValue) else { throw StoreError.unknownJob(id) }
        if job.state == state {
            if job.reason != reason {
                job.reason = reason
                job.updatedAt = now
                try job.update(db)
            }
            return job
        }
        guard job.state.canMove(to: state) else {
            throw StoreError.illegalTransition(job: id, from: job.state, to: state)
        }
        let from = job.state
        job.state = state
        job.reason = reason
        job.updatedAt = now
        try job.update(db)
        let cause = reason.map { ": \($0)" } ?? ""
        try insert(EventRecord(
            time: now, kind: .jobState, jobId: id, message: "job \(id) \(from.rawValue) → \(state.rawValue)\(cause)",
            payload: EventRecord.payload(["from": from.rawValue, "to": state.rawValue])), db)
        return job
    }

    public func job(_ id: JobID) throws -> JobRecord? {
        try read { db in try JobRecord.fetchOne(db, key: id.rawValue) }
    }

    /// Every job, newest first.
    public func jobs() throws -> [JobRecord] {
        try read { db in try JobRecord.order(Column("seq").desc).fetchAll(db) }
    }
}
