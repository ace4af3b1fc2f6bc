import Foundation
import GRDB

/// How many bytes a state database's rows and indexes take, read by another process while the controller
/// runs (WAL readers never block the writer). The file's size says little: it grows in steps as SQLite
/// checkpoints its WAL, and freed pages stay in it.
public enum StoreFootprint {
    /// Bytes in use in the database's pages (SQLite's `dbstat`: each page's size less its unused bytes), or
    /// the pages in use × the page size where `dbstat` is not compiled in.
    public static func usedBytes(atPath path: String) throws -> UInt64 {
        var configuration = Configuration()
        configuration.readonly = true
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        return try queue.read { db in
            if let used = try? Int64.fetchOne(db, sql: "SELECT SUM(pgsize - unused) FROM dbstat") { return UInt64(max(0, used)) }
            let pages = try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            let free = try Int64.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
            let size = try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 0
            return UInt64(max(0, (pages - free) * size))
        }
    }
}
