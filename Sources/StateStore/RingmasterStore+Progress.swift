import Foundation
import GRDB
import RingmasterModel

extension RingmasterStore {
    /// Records the newest step of several ranks of an attempt in one transaction: `lastStep` rises, and a
    /// rank that reports its first step moves to `running`. The runner batches reports (about one
    /// transaction a second), so a fast job's progress never floods the writer.
    public func recordRankSteps(attempt: Int64, steps: [Int: Int], at now: Date) throws {
        guard !steps.isEmpty else { return }
        // One statement for the whole batch (4,096 ranks a second at 512 nodes): the pairs as one JSON
        // argument, materialized first so each pair finds its row by the primary key (a plain join scans the
        // batch once per rank of the attempt).
        let pairs = "[" + steps.map { "[\($0.key),\($0.value)]" }.joined(separator: ",") + "]"
        try transaction { db in
            try db.execute(
                sql: """
                    WITH batch(rank, step) AS MATERIALIZED (
                      SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?))
                    UPDATE rank SET lastStep = MAX(COALESCE(rank.lastStep, -1), batch.step), updatedAt = ?,
                      state = CASE WHEN rank.state IN ('pending', 'starting') THEN 'running' ELSE rank.state END
                    FROM batch WHERE rank.attemptId = ? AND rank.rank = batch.rank
                    """,
                arguments: [pairs, now, attempt])
        }
    }
}

/// Calls back after every commit that added events; cancel it (or drop it) to stop.
public final class EventObservation: Sendable {
    let cancellable: AnyDatabaseCancellable
    init(_ cancellable: AnyDatabaseCancellable) { self.cancellable = cancellable }
    public func cancel() { cancellable.cancel() }
}

extension RingmasterStore {
    /// `onChange` runs after each transaction that inserted events, on a GRDB thread: keep it short.
    public func observeEvents(_ onChange: @escaping @Sendable () -> Void) throws -> EventObservation {
        let observation = DatabaseRegionObservation(tracking: Table("event"))
        let cancellable = observation.start(in: writer, onError: { _ in }, onChange: { _ in onChange() })
        return EventObservation(cancellable)
    }
}
