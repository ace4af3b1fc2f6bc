import Foundation
import RingmasterModel
import StateStore

/// The runner loop's writes to the state database while it cannot be written (its filesystem is full,
/// another process holds its lock): kept in memory, in order, and made once it can be written again.
///
/// A write that fails that way starts an *outage*: it is logged, the write is queued, and so is every
/// later write (a job's states are written in the order they happened, never one that skips another).
/// `retryIfDue` tries the oldest again at most every `retryInterval` (a held lock is probed without waiting
/// first); when the queue is empty again the outage ends with a report — how long, why, how many writes
/// waited and how many were lost — recorded as a `store.write-failed` event (the outage lasts until that
/// event is written too). Nothing the
/// store had committed is touched: a failed SQLite transaction rolls back. The queue holds at most
/// `capacity` writes; later ones are counted as lost. A write that fails for any other reason (a state
/// transition the store refuses) is logged and dropped, as before.
///
/// Not thread-safe: the runner loop's thread owns it.
final class StoreJournal {
    struct Entry {
        var what: String
        var job: JobID?
        var write: () throws -> Void
    }

    /// An outage in progress: since when, the newest error, the writes that waited or were lost, and the
    /// rank output lines the log book could not write meanwhile.
    struct Outage: Equatable {
        var since: Instant
        var error: StoreError
        var waited = 0
        var lost = 0
        var logLinesLost = 0
        var lastLogged: Instant
    }

    /// What an ended outage is reported as: the outage, how long it lasted, where rank output goes.
    struct Report: Equatable {
        var outage: Outage
        var seconds: TimeInterval
        var logDirectory: String

        var error: StoreError { outage.error }
        var waited: Int { outage.waited }
        var lost: Int { outage.lost }
        var logLinesLost: Int { outage.logLinesLost }

        var message: String {
            var text = "the state database could not be written for " + String(format: "%.1f s", seconds)
                + " (\(error)); \(waited) write\(waited == 1 ? "" : "s") waited and "
                + (waited == 1 ? "was" : "were") + " made once it could be written again"
            if lost > 0 { text += "; \(lost) write\(lost == 1 ? " was" : "s were") lost (more than the queue holds)" }
            if logLinesLost > 0 {
                text += "; \(logLinesLost) line\(logLinesLost == 1 ? "" : "s") of rank output could not be written to "
                    + logDirectory
            }
            return text
        }

        var payload: [String: String] {
            ["seconds": String(format: "%.3f", seconds), "since": ISO8601DateFormatter().string(from: outage.since.wall),
             "waited": String(waited), "lost": String(lost),
             "logLinesLost": String(logLinesLost), "cause": Self.cause(error)]
        }

        static func cause(_ error: StoreError) -> String {
            switch error {
            case .diskFull: "disk-full"
            case .locked: "locked"
            default: "io-error"
            }
        }
    }

    let capacity: Int
    let retryInterval: TimeInterval
    /// How often a long outage is logged again.
    let reminderInterval: TimeInterval
    let logDirectory: String
    private let log: (JobID?, String) -> Void
    /// Whether another process holds the database's write lock now (answered without waiting).
    private let lockHeld: () -> Bool
    /// Records an ended outage (the `store.write-failed` event); throws like any store write.
    private let ended: (Report) throws -> Void
    private(set) var queue: [Entry] = []
    private(set) var outage: Outage?
    private var nextRetry: Instant?

    init(capacity: Int = 10_000, retryInterval: TimeInterval = 1, reminderInterval: TimeInterval = 60,
         logDirectory: String, log: @escaping (JobID?, String) -> Void, lockHeld: @escaping () -> Bool = { false },
         ended: @escaping (Report) throws -> Void) {
        self.capacity = capacity
        self.retryInterval = retryInterval
        self.reminderInterval = reminderInterval
        self.logDirectory = logDirectory
        self.log = log
        self.lockHeld = lockHeld
        self.ended = ended
    }

    /// Writes are being held back.
    var holding: Bool { outage != nil }

    /// Makes `write` now, or queues it behind the writes already waiting. With `keep: false` a write that
    /// cannot be made now is not queued (the caller keeps what it would write, e.g. progress that the next
    /// write supersedes). Returns whether the write was made.
    @discardableResult
    func perform(_ what: String, job: JobID? = nil, now: Instant, keep: Bool = true, _ write: @escaping () throws -> Void)
        -> Bool
    {
        if outage != nil {
            if keep { enqueue(Entry(what: what, job: job, write: write)) }
            return false
        }
        do {
            try write()
            return true
        } catch let error as StoreError where error.isTransient {
            begin(error, what: what, now: now)
            if keep { enqueue(Entry(what: what, job: job, write: write)) }
            return false
        } catch {
            log(job, "\(what) failed: \(error)")
            return false
        }
    }

    /// For a write whose result is needed now (an attempt's row, a checkpoint's commit): throws the outage's
    /// error while writes wait and cannot be made yet, so the caller treats the store as unwritable without
    /// trying (and without waiting on a held lock) — or, when the retry is due, makes the waiting writes
    /// first. A failure of the caller's own write is reported with `failed`.
    func ready(now: Instant) throws(StoreError) {
        guard outage != nil else { return }
        retryIfDue(now: now)
        if let outage { throw outage.error }
    }

    /// A write made outside `perform` failed because the store cannot be written: the outage starts (its
    /// later writes wait). Other errors are not the journal's.
    func failed(_ error: any Error, what: String, now: Instant) {
        guard let error = error as? StoreError, error.isTransient, outage == nil else { return }
        begin(error, what: what, now: now)
    }

    /// Rank output the log book could not write while the store could not be written either (or alone: then
    /// it is logged).
    func logLinesLost(_ count: Int, error: String) {
        guard count > 0 else { return }
        if outage != nil {
            outage!.logLinesLost += count
        } else {
            log(nil, "\(count) line\(count == 1 ? "" : "s") of rank output could not be written to \(logDirectory): \(error)")
        }
    }

    /// Tries the waiting writes again when the retry is due, then records the outage's report (`ended`,
    /// itself a write: the outage lasts until it is made). Returns the report when the outage ended.
    @discardableResult
    func retryIfDue(now: Instant) -> Report? {
        guard var outage else { return nil }
        if let next = nextRetry, now < next { return nil }
        nextRetry = now + retryInterval
        if case .locked = outage.error, lockHeld() {
            remind(&outage, now: now)
            self.outage = outage
            return nil
        }
        while let entry = queue.first {
            do {
                try entry.write()
            } catch let error as StoreError where error.isTransient {
                return stillOut(&outage, error, now: now)
            } catch {
                log(entry.job, "\(entry.what) failed: \(error)")
                outage.lost += 1
                outage.waited -= 1
            }
            queue.removeFirst()
        }
        let report = Report(outage: outage, seconds: now.timeIntervalSince(outage.since), logDirectory: logDirectory)
        do {
            try ended(report)
        } catch let error as StoreError where error.isTransient {
            return stillOut(&outage, error, now: now)
        } catch {
            log(nil, "recording the end of the store outage failed: \(error)")
        }
        self.outage = nil
        nextRetry = nil
        log(nil, "the state database can be written again: \(report.message)")
        return report
    }

    private func stillOut(_ outage: inout Outage, _ error: StoreError, now: Instant) -> Report? {
        outage.error = error
        remind(&outage, now: now)
        self.outage = outage
        return nil
    }

    private func begin(_ error: StoreError, what: String, now: Instant) {
        outage = Outage(since: now, error: error, lastLogged: now)
        nextRetry = now + retryInterval
        log(nil, "\(what) failed: \(error); the controller keeps serving reads and holds its writes (in order) until "
            + "it can write again, trying every " + String(format: "%.0f s", retryInterval))
    }

    private func enqueue(_ entry: Entry) {
        guard queue.count < capacity else {
            outage?.lost += 1
            return
        }
        queue.append(entry)
        outage?.waited += 1
    }

    private func remind(_ outage: inout Outage, now: Instant) {
        guard now.timeIntervalSince(outage.lastLogged) >= reminderInterval else { return }
        outage.lastLogged = now
        log(nil, "the state database still cannot be written (" + String(format: "%.0f s", now.timeIntervalSince(outage.since))
            + ", \(queue.count) writes waiting): \(outage.error)")
    }
}
