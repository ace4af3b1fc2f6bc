import Foundation
import GRDB
import RingmasterModel

extension RingmasterStore {
    /// Starts the job's next attempt: the attempt row, a `pending` row per rank, the job moved to
    /// `running` (a restart also counts against the budget), and `attempt.started`, in one transaction.
    public func startAttempt(
        _ jobId: JobID, placement: Placement, token: AttemptToken, resumeStep: Int?, at now: Date
    ) throws -> AttemptRecord {
        try transaction { db in
            guard var job = try JobRecord.fetchOne(db, key: jobId.rawValue) else { throw StoreError.unknownJob(jobId) }
            let known = try Set(String.fetchAll(db, sql: "SELECT id FROM node"))
            let missing = placement.nodes.filter { !known.contains($0.rawValue) }
            guard missing.isEmpty else { throw StoreError.placementNodesUnknown(missing) }

            let number = (try Int.fetchOne(db, sql: "SELECT MAX(number) FROM attempt WHERE jobId = ?",
                                           arguments: [jobId.rawValue]) ?? 0) + 1
            if number > 1 {
                job.restarts += 1
                job.updatedAt = now
                try job.update(db)
            }
            var attempt = AttemptRecord(
                id: nil, jobId: jobId, number: number, state: .launching, token: token, resumeStep: resumeStep,
                placement: placement, startedAt: now, endedAt: nil, endReason: nil)
            try attempt.insert(db)
            let insertRank = try db.cachedStatement(sql: """
                INSERT INTO rank (attemptId, rank, nodeId, localRank, state, updatedAt) VALUES (?, ?, ?, ?, 'pending', ?)
                """)
            for r in placement.ranks {
                try insertRank.execute(arguments: [attempt.id!, r.rank, r.node.rawValue, r.localRank, now])
            }
            _ = try Self.moveJob(jobId, to: .running, reason: nil, at: now, db)
            let resume = resumeStep.map { "resuming from step \($0)" } ?? "fresh start"
            try Self.insert(EventRecord(
                time: now, kind: .attemptStarted, jobId: jobId, attemptId: attempt.id,
                message: "attempt \(number) of \(jobId) launching \(placement.worldSize) ranks on "
                    + "\(placement.nodes.count) nodes, \(resume)",
                payload: EventRecord.payload(["number": number, "resumeStep": resumeStep ?? -1])), db)
            return attempt
        }
    }

    /// Ends an attempt as succeeded, failed or stopped, with the reason, and records `attempt.finished`.
    @discardableResult
    public func finishAttempt(_ id: Int64, as state: AttemptState, reason: String, at now: Date) throws -> AttemptRecord {
        precondition(state.isFinal, "finishAttempt needs a final state")
        return try transaction { db in
            guard var attempt = try AttemptRecord.fetchOne(db, key: id) else { throw StoreError.unknownAttempt(id) }
            guard !attempt.state.isFinal else { throw StoreError.attemptAlreadyFinished(id, attempt.state) }
            attempt.state = state
            attempt.endedAt = now
            attempt.endReason = reason
            try attempt.update(db)
            // Every rank of an ended attempt is gone, reported or not (a dead controller never heard).
            try db.execute(sql: "UPDATE rank SET state = 'exited', updatedAt = ? WHERE attemptId = ? AND state != 'exited'",
                           arguments: [now, id])
            try Self.insert(EventRecord(
                time: now, kind: .attemptFinished, jobId: attempt.jobId, attemptId: id,
                message: "attempt \(attempt.number) of \(attempt.jobId) \(state.rawValue): \(reason)"), db)
            return attempt
        }
    }

    /// The agent spawned the rank: record its pid; the attempt is `running` once every rank has started.
    public func recordRankStarted(attempt: Int64, rank: Int, pid: Int32, at now: Date) throws {
        try recordRanksStarted(attempt: attempt, [RankStart(rank: rank, pid: pid, at: now)])
    }

    /// Several ranks of an attempt started (the runner batches them: a 4,096-rank launch is a few transactions,
    /// not one per rank each counting the ranks still pending). One `rank.started` event per rank, in order.
    public func recordRanksStarted(attempt: Int64, _ starts: [RankStart]) throws {
        guard !starts.isEmpty else { return }
        try transaction { db in
            let job = try Self.jobId(of: attempt, db)
            // Prepared once per transaction, not a record fetched and written back per rank: a 4,096-rank launch
            // spent most of the controller's time there.
            let update = try db.cachedStatement(sql: """
                UPDATE rank SET state = 'starting', pid = ?, updatedAt = ? WHERE attemptId = ? AND rank = ? RETURNING nodeId
                """)
            let events = try RankEventInsert(db)
            for start in starts {
                guard let node = try String.fetchOne(update, arguments: [start.pid, start.at, attempt, start.rank]) else {
                    throw StoreError.unknownRank(attempt: attempt, rank: start.rank)
                }
                try events.insert(time: start.at, kind: .rankStarted, job: job, attempt: attempt, node: node, rank: start.rank,
                                  message: "rank \(start.rank) started on \(node) as pid \(start.pid)")
            }
            let waiting = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM rank WHERE attemptId = ? AND state = 'pending'",
                                           arguments: [attempt]) ?? 0
            if waiting == 0 {
                try db.execute(sql: "UPDATE attempt SET state = 'running' WHERE id = ? AND state = 'launching'",
                               arguments: [attempt])
            }
        }
    }

    /// The rank's process is gone: status for a normal exit, signal when it was killed.
    public func recordRankExited(attempt: Int64, rank: Int, status: Int32?, signal: Int32?, at now: Date) throws {
        try recordRanksExited(attempt: attempt, [RankExit(rank: rank, status: status, signal: signal, at: now)])
    }

    /// Several ranks of an attempt exited, in one transaction (a teardown of 4,096 ranks is a few), one
    /// `rank.exited` event each, in order.
    public func recordRanksExited(attempt: Int64, _ exits: [RankExit]) throws {
        guard !exits.isEmpty else { return }
        try transaction { db in
            let job = try Self.jobId(of: attempt, db)
            let update = try db.cachedStatement(sql: """
                UPDATE rank SET state = 'exited', exitStatus = ?, exitSignal = ?, updatedAt = ?
                WHERE attemptId = ? AND rank = ? RETURNING nodeId
                """)
            let events = try RankEventInsert(db)
            for exit in exits {
                guard let node = try String.fetchOne(update, arguments: [exit.status, exit.signal, exit.at, attempt, exit.rank]) else {
                    throw StoreError.unknownRank(attempt: attempt, rank: exit.rank)
                }
                let how = exit.signal.map { "killed by signal \($0)" } ?? "exited with status \(exit.status ?? 0)"
                try events.insert(time: exit.at, kind: .rankExited, job: job, attempt: attempt, node: node, rank: exit.rank,
                                  message: "rank \(exit.rank) on \(node) \(how)")
            }
        }
    }

    static func jobId(of attempt: Int64, _ db: Database) throws -> JobID? {
        try String.fetchOne(db, sql: "SELECT jobId FROM attempt WHERE id = ?", arguments: [attempt]).map { JobID($0) }
    }

    /// Attempts of a job, oldest first.
    public func attempts(of jobId: JobID) throws -> [AttemptRecord] {
        try read { db in
            try AttemptRecord.filter(Column("jobId") == jobId.rawValue).order(Column("number")).fetchAll(db)
        }
    }

    /// Ranks of an attempt, by rank.
    public func ranks(of attempt: Int64) throws -> [RankRecord] {
        try read { db in try RankRecord.filter(Column("attemptId") == attempt).order(Column("rank")).fetchAll(db) }
    }
}

/// A rank's `started`: its pid and when it came.
public struct RankStart: Hashable, Sendable {
    public var rank: Int
    public var pid: Int32
    public var at: Date
    public init(rank: Int, pid: Int32, at: Date) {
        self.rank = rank
        self.pid = pid
        self.at = at
    }
}

/// A rank's `exited`: its status or signal and when it came.
public struct RankExit: Hashable, Sendable {
    public var rank: Int
    public var status: Int32?
    public var signal: Int32?
    public var at: Date
    public init(rank: Int, status: Int32?, signal: Int32?, at: Date) {
        self.rank = rank
        self.status = status
        self.signal = signal
        self.at = at
    }
}
