import Foundation
import GRDB
import RingmasterModel

extension RingmasterStore {
    /// Records the newest step of several ranks of an attempt in one transaction: `lastStep` rises, and a
    /// rank that reports its first step moves to `running`. The runner batches reports (about one
    /// transaction a second), so a fast job's progress never floods the writer.
    public func recordRankSteps(attempt: Int64, steps: [Int: Int], at now: Date) throws {
        guard !steps.isEmpty else { return }
        try transaction { db in
            for (rank, step) in steps {
                try db.execute(
                    sql: """
                        UPDATE rank SET lastStep = MAX(COALESCE(lastStep, -1), ?), updatedAt = ?,
                          state = CASE WHEN state IN ('pending', 'starting') THEN 'running' ELSE state END
                        WHERE attemptId = ? AND rank = ?
                        """,
                    arguments: [step, now, attempt, rank])
            }
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
