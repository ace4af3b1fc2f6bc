import Foundation
import GRDB
import RingmasterModel

extension RingmasterStore {
    /// Records that every rank of `attempt` made step `step` durable and `COMMITTED` was written.
    /// `importedFrom`: the step was another job's, verified and copied into this job's folder.
    public func commitCheckpoint(job: JobID, attempt: Int64, step: Int, dir: String, at now: Date,
                                 importedFrom: String? = nil) throws {
        try transaction { db in
            let record = CheckpointRecord(jobId: job, step: step, attemptId: attempt, state: .committed, dir: dir,
                                          committedAt: now)
            try record.upsert(db)
            let origin = importedFrom.map { " (imported from \($0), as `checkpoint.resumeFrom` asks)" } ?? ""
            try Self.insert(EventRecord(time: now, kind: .checkpointCommitted, jobId: job, attemptId: attempt,
                                        message: "checkpoint step \(step) of \(job) committed in \(dir)\(origin)"), db)
        }
    }

    /// The controller removed these committed steps from disk (beyond `keep`).
    public func markCheckpointsPruned(job: JobID, steps: [Int], at now: Date) throws {
        guard !steps.isEmpty else { return }
        try transaction { db in
            for step in steps {
                guard var record = try CheckpointRecord.fetchOne(db, key: ["jobId": job.rawValue, "step": step]) else { continue }
                record.state = .pruned
                try record.update(db)
            }
        }
    }

    /// A shard of `step` failed verification: the step is never resumed from again.
    public func markCheckpointCorrupt(job: JobID, step: Int, reason: String, at now: Date) throws {
        try transaction { db in
            guard var record = try CheckpointRecord.fetchOne(db, key: ["jobId": job.rawValue, "step": step]) else {
                throw StoreError.unknownJob(job)
            }
            record.state = .corrupt
            try record.update(db)
            try Self.insert(EventRecord(time: now, kind: .checkpointCorrupt, jobId: job,
                                        message: "checkpoint step \(step) of \(job) is corrupt: \(reason)"), db)
        }
    }

    /// The newest committed (not corrupt, not pruned) step of a job.
    public func newestCommittedCheckpoint(of job: JobID) throws -> CheckpointRecord? {
        try read { db in
            try CheckpointRecord.filter(Column("jobId") == job.rawValue && Column("state") == "committed")
                .order(Column("step").desc).fetchOne(db)
        }
    }

    /// Every checkpoint row of a job, newest first.
    public func checkpoints(of job: JobID) throws -> [CheckpointRecord] {
        try read { db in
            try CheckpointRecord.filter(Column("jobId") == job.rawValue).order(Column("step").desc).fetchAll(db)
        }
    }
}
