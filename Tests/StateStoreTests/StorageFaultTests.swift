import Foundation
import GRDB
import RingmasterModel
import RingmasterTestKit
@testable import StateStore
import SystemUtilities
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// SQLite's errors about the file become the store's, naming it with what to do (issue 14, storage faults).
@Suite struct StoreFileErrors {
    @Test func fullLockedAndIOErrorsNameTheFileWithAHint() {
        let path = "/var/lib/ringmaster/state.db"
        let full = StoreError(DatabaseError(resultCode: .SQLITE_FULL, message: "database or disk is full"), path: path)
        #expect(full == .diskFull(path: path))
        #expect(full?.description == "cannot write the state database \(path): its filesystem is full — free space there "
            + "(`df /var/lib/ringmaster`); what is already stored is intact, and the write can be retried once there is room")
        #expect(StoreError(DatabaseError(resultCode: .SQLITE_IOERR_SHMSIZE), path: path) == .diskFull(path: path))
        let locked = StoreError(DatabaseError(resultCode: .SQLITE_BUSY, message: "database is locked"), path: path)
        #expect(locked == .locked(path: path))
        #expect(locked?.description.contains("is locked by another process — end that process's transaction") == true)
        #expect(locked?.description.contains("`fuser \(path)` names it") == true)
        #expect(StoreError(DatabaseError(resultCode: .SQLITE_IOERR_WRITE, message: "disk I/O error"), path: path)
            == .ioError(path: path, reason: "disk I/O error"))
        #expect(StoreError(DatabaseError(resultCode: .SQLITE_CONSTRAINT), path: path) == nil)
        #expect([full, locked].allSatisfy { $0?.isTransient == true })
        #expect(!StoreError.unknownJob("x").isTransient)
    }

    @Test func aLockHeldByAnotherProcessIsSeenWithoutWaiting() async throws {
        try await withTemporaryDirectory { dir in
            let db = "\(dir)/state.db"
            let store = try RingmasterStore.open(path: db)
            try store.registerNode(demoNodes()[0], at: t0)
            #expect(!store.writeLockHeldElsewhere())
            let locker = try ChildProcess([try BuiltProducts.executable("ringmaster-fixture"), "store-locker", db])
            #expect(await locker.line { $0 == "locked" } == "locked", "locker stderr: \(locker.standardError)")
            let clock = ContinuousClock()
            let start = clock.now
            #expect(store.writeLockHeldElsewhere())
            // No busy timeout was waited for (it is 10 s); a bound far below it, not a measurement.
            #expect(clock.now - start < .seconds(5))
            // Reads go on while another process holds the write lock (WAL).
            #expect(try store.nodes().count == 1)
            locker.signal(SIGKILL)
            _ = await locker.exit()
            #expect(!store.writeLockHeldElsewhere())
            try store.registerNode(demoNodes()[1], at: t0)
            #expect(try store.nodes().count == 2)
        }
    }
}

/// The state database on a full filesystem (a small tmpfs; root only, a failure on CI when not root).
@Suite(.serialized, .timeLimit(.minutes(2)),
       .enabled(if: TestEnvironment.canRunRootTests, Comment(rawValue: TestEnvironment.skipMessage)))
struct FullStateDisk {
    @Test func aFullDiskRefusesWritesKeepsReadsAndLosesNothingCommitted() async throws {
        try await SmallFilesystem.with(bytes: 4 << 20) { fs in
            let db = "\(fs.path)/state.db"
            let store = try RingmasterStore.open(path: db)
            for n in demoNodes() { try store.registerNode(n, at: t0) }
            let payload = EventRecord.payload(["filler": String(repeating: "x", count: 2000)])
            try store.recordEvents((0..<100).map { EventRecord(time: t0, kind: .rankStarted, rank: $0, message: "before", payload: payload) })
            let before = try store.events(limit: 10_000)
            fs.fill()
            // Writes far larger than any space SQLite kept in its files fail, naming the file.
            var failure: (any Error)?
            for batch in 0..<50 {
                do {
                    try store.recordEvents((0..<200).map {
                        EventRecord(time: t0, kind: .rankStarted, rank: $0, message: "during \(batch)", payload: payload)
                    })
                } catch {
                    failure = error
                    break
                }
            }
            #expect(failure as? StoreError == .diskFull(path: db), "\(String(describing: failure))")
            // Reads go on, and show every committed row and none of the failed transaction's.
            let during = try store.events(limit: 100_000)
            #expect(Array(during.prefix(before.count)) == before)
            let partial = Dictionary(grouping: during.dropFirst(before.count), by: \.message).mapValues(\.count)
            #expect(partial.values.allSatisfy { $0 == 200 }, "a batch was half written: \(partial)")
            #expect(try store.nodes().count == 2)
            // Space returns: writes succeed again, on the same store.
            fs.free()
            try store.recordEvent(EventRecord(time: t0, kind: .rankStarted, message: "after"))
            #expect(try store.events(limit: 100_000).last?.message == "after")
            #expect(try integrityCheck(db) == "ok")
        }
    }
}
