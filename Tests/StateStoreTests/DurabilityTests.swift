import Foundation
import GRDB
import RingmasterModel
import RingmasterTestKit
import StateStore
import SystemUtilities
import Testing

@Suite(.serialized, .timeLimit(.minutes(2))) struct Durability {
    @Test func aWriterKilledMidTransactionLosesNothingCommittedAndShowsNothingHalfWritten() async throws {
        try await withTemporaryDirectory { dir in
            let db = "\(dir)/state.db"
            let writer = try ChildProcess([try BuiltProducts.executable("ringmaster-fixture"), "store-writer", db, "25", "200"])
            let holding = await writer.line { $0 == "holding" }
            #expect(holding == "holding", "writer stderr: \(writer.standardError)")
            // The writer is now inside an open transaction with 20,000 uncommitted rows written.
            let walBytes = (try? FileManager.default.attributesOfItem(atPath: db + "-wal")[.size] as? Int) ?? 0
            writer.signal(SIGKILL)
            _ = await writer.exit()
            #expect(walBytes > 0)

            let store = try RingmasterStore.open(path: db)
            let events = try store.events(limit: 100_000)
            #expect(events.count == 25 * 200)
            let batches = Dictionary(grouping: events, by: \.message).mapValues(\.count)
            #expect(batches.count == 25)
            #expect(batches.values.allSatisfy { $0 == 200 })
            #expect(batches["uncommitted"] == nil)
            let check = try integrityCheck(db)
            #expect(check == "ok")
        }
    }

    @Test func aFileFromANewerSchemaIsRefusedAndLeftAlone() throws {
        try withTemporaryDirectory { dir in
            let db = "\(dir)/state.db"
            _ = try RingmasterStore.open(path: db)
            try DatabaseQueue(path: db).write { db in
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v9: from the future')")
            }
            #expect(throws: StoreError.newerSchema(path: db, unknownMigrations: ["v9: from the future"])) {
                try RingmasterStore.open(path: db)
            }
            let message = StoreError.newerSchema(path: db, unknownMigrations: ["v9: from the future"]).description
            #expect(message.contains("upgrade ringmaster, or use another --state-dir"))
            // Nothing was changed by the refused open.
            let ids = try DatabaseQueue(path: db).read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations") }
            #expect(ids.count == 4)
        }
    }

    @Test func reopeningKeepsEverythingAndDoesNotRerunMigrations() throws {
        try withTemporaryDirectory { dir in
            let db = "\(dir)/state.db"
            do {
                let store = try RingmasterStore.open(path: db)
                _ = try store.submitJob(demoSpec(), manifest: "name: demo\n", manifestPath: "/m", uid: JobRecord.newUID(), at: t0)
            }
            let again = try RingmasterStore.open(path: db)
            #expect(try again.jobs().map(\.id) == ["demo-1"])
            #expect(try again.appliedMigrations().count == 3)
            let mode = try DatabaseQueue(path: db).read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
            #expect(mode == "wal")
        }
    }
}

/// `PRAGMA integrity_check` on a file, synchronously.
func integrityCheck(_ path: String) throws -> String? {
    try DatabaseQueue(path: path).read { try String.fetchOne($0, sql: "PRAGMA integrity_check") }
}
