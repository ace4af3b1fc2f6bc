@testable import Controller
import Foundation
import RingmasterModel
import StateStore
import Testing

/// A store that is full until told otherwise, recording what was written in order.
final class FlakyStore {
    var failure: StoreError?
    var written: [String] = []
    var reports: [StoreJournal.Report] = []
    var lockHeld = false
    var probes = 0

    func write(_ what: String) throws {
        if let failure { throw failure }
        written.append(what)
    }
}

/// The runner loop's writes while the state database cannot be written (issue 14, storage faults).
@Suite struct StoreJournalTests {
    static func at(_ s: Double) -> Instant {
        Instant(monotonic: .milliseconds(Int64(s * 1000)), wall: Date(timeIntervalSince1970: 1_800_000_000 + s))
    }

    static func journal(_ store: FlakyStore, capacity: Int = 100, log: @escaping (String) -> Void = { _ in }) -> StoreJournal {
        StoreJournal(capacity: capacity, retryInterval: 1, reminderInterval: 10, logDirectory: "/state/logs",
                     log: { _, text in log(text) },
                     lockHeld: {
                         store.probes += 1
                         return store.lockHeld
                     },
                     ended: { report in
                         try store.write("report")
                         store.reports.append(report)
                     })
    }

    @Test func writesWaitInOrderWhileTheDiskIsFullAndAreMadeWhenItHasRoom() {
        let store = FlakyStore()
        var lines: [String] = []
        let j = Self.journal(store) { lines.append($0) }
        #expect(j.perform("a", now: Self.at(0)) { try store.write("a") })
        store.failure = .diskFull(path: "/state/state.db")
        #expect(!j.perform("b", now: Self.at(1)) { try store.write("b") })
        #expect(j.holding)
        #expect(lines.last?.contains("b failed: cannot write the state database /state/state.db: its filesystem is full") == true)
        #expect(lines.last?.contains("keeps serving reads and holds its writes (in order)") == true)
        // Later writes join the queue without being tried, even once the disk has room: order is kept.
        store.failure = nil
        #expect(!j.perform("c", now: Self.at(1.2)) { try store.write("c") })
        #expect(store.written == ["a"])
        // Nothing is retried before the interval; then everything, in order, and the report last.
        #expect(j.retryIfDue(now: Self.at(1.5)) == nil)
        store.failure = .diskFull(path: "/state/state.db")
        #expect(j.retryIfDue(now: Self.at(2)) == nil)
        store.failure = nil
        let report = try! #require(j.retryIfDue(now: Self.at(3.5)))
        #expect(store.written == ["a", "b", "c", "report"])
        #expect(!j.holding)
        #expect(report.waited == 2 && report.lost == 0 && report.seconds == 2.5)
        #expect(report.message.hasPrefix("the state database could not be written for 2.5 s (cannot write the state database "
            + "/state/state.db: its filesystem is full"))
        #expect(report.message.hasSuffix("2 writes waited and were made once it could be written again"), "\(report.message)")
        #expect(report.payload["cause"] == "disk-full" && report.payload["waited"] == "2")
        #expect(store.reports == [report])
        #expect(lines.last?.hasPrefix("the state database can be written again") == true)
        // Writes are made at once again.
        #expect(j.perform("d", now: Self.at(4)) { try store.write("d") })
    }

    @Test func theOutageLastsUntilItsReportIsWritten() {
        let store = FlakyStore()
        let j = Self.journal(store)
        store.failure = .diskFull(path: "/db")
        // Progress is not kept: the caller keeps it and writes it later.
        #expect(!j.perform("progress", now: Self.at(0), keep: false) { try store.write("progress") })
        #expect(j.holding && j.queue.isEmpty)
        #expect(j.retryIfDue(now: Self.at(1)) == nil)
        #expect(j.holding)
        store.failure = nil
        #expect(j.retryIfDue(now: Self.at(2))?.waited == 0)
        #expect(store.written == ["report"])
    }

    @Test func aWriteThatNeedsItsResultFailsAtOnceWhileWritesWait() throws {
        let store = FlakyStore()
        let j = Self.journal(store)
        try j.ready(now: Self.at(0))
        store.failure = .locked(path: "/db")
        j.failed(StoreError.locked(path: "/db"), what: "recording attempt 1", now: Self.at(0))
        j.perform("event", now: Self.at(0.1)) { try store.write("event") }
        #expect(throws: StoreError.locked(path: "/db")) { try j.ready(now: Self.at(0.5)) }
        // A held lock is probed without waiting before anything is retried.
        store.lockHeld = true
        store.failure = nil
        #expect(throws: StoreError.locked(path: "/db")) { try j.ready(now: Self.at(1)) }
        #expect(store.probes == 1 && store.written.isEmpty)
        store.lockHeld = false
        try j.ready(now: Self.at(2))
        #expect(store.written == ["event", "report"])
        #expect(store.reports.first?.payload["cause"] == "locked")
        // Other errors are not outages.
        j.failed(StoreError.unknownJob("x"), what: "x", now: Self.at(3))
        #expect(!j.holding)
    }

    @Test func writesBeyondTheQueuesCapacityAreCountedAsLostAndRefusedOnesAreDropped() {
        let store = FlakyStore()
        var lines: [String] = []
        let j = Self.journal(store, capacity: 2) { lines.append($0) }
        store.failure = .diskFull(path: "/db")
        // "a" is refused when it is replayed (not an outage): dropped with a note, the rest go on.
        j.perform("a", now: Self.at(0)) {
            if store.failure == nil { throw StoreError.illegalTransition(job: "j", from: .succeeded, to: .running) }
            try store.write("a")
        }
        for name in ["b", "c", "d"] { j.perform(name, now: Self.at(0)) { try store.write(name) } }
        #expect(j.queue.count == 2)
        store.failure = nil
        j.logLinesLost(12, error: "logs/x/rank-0.log: No space left on device")
        let report = try! #require(j.retryIfDue(now: Self.at(1)))
        #expect(store.written == ["b", "report"])
        #expect(report.waited == 1 && report.lost == 3 && report.logLinesLost == 12)
        #expect(report.message.contains("3 writes were lost (more than the queue holds)"))
        #expect(report.message.contains("12 lines of rank output could not be written to /state/logs"))
        #expect(lines.contains { $0.contains("a failed: job j cannot go from succeeded to running") })
        // Without an outage, lost rank output is only logged.
        j.logLinesLost(1, error: "logs/x: No space left on device")
        #expect(lines.last == "1 line of rank output could not be written to /state/logs: logs/x: No space left on device")
    }

    @Test func aLongOutageIsLoggedAgain() {
        let store = FlakyStore()
        var lines: [String] = []
        let j = Self.journal(store) { lines.append($0) }
        store.failure = .diskFull(path: "/db")
        j.perform("a", now: Self.at(0)) { try store.write("a") }
        for s in 1...25 { j.retryIfDue(now: Self.at(Double(s))) }
        let reminders = lines.filter { $0.hasPrefix("the state database still cannot be written") }
        #expect(reminders.count == 2, "\(lines)")
        #expect(reminders.first?.contains("(10 s, 1 writes waiting)") == true)
    }
}
