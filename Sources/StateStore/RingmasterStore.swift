import Foundation
import GRDB
import RingmasterModel

/// The one database type: owns the writer, applies migrations, and offers intention-named
/// transactional methods. Every state change is written with its event in one transaction.
public final class RingmasterStore: Sendable {
    let writer: any DatabaseWriter
    /// Path of the database file; `:memory:` for in-memory stores.
    public let path: String

    init(writer: any DatabaseWriter, path: String) throws {
        self.writer = writer
        self.path = path
        try Self.migrate(writer, path: path)
    }

    /// Opens (creating if needed) the database file in WAL mode with the production configuration.
    public static func open(path: String) throws -> RingmasterStore {
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration())
        } catch let error as DatabaseError {
            throw StoreError(error, path: path) ?? StoreError.cannotOpen(path: path, reason: error.message ?? "\(error)")
        }
        return try RingmasterStore(writer: pool, path: path)
    }

    /// A private in-memory database with the production configuration and migrations, for tests.
    public static func inMemory() throws -> RingmasterStore {
        try RingmasterStore(writer: DatabaseQueue(configuration: configuration()), path: ":memory:")
    }

    /// Foreign keys on, a busy timeout for the CLI's readers, and `synchronous=NORMAL`: in WAL mode
    /// every commit survives a crash of the process; an OS crash or power loss can lose the newest
    /// commits but never corrupts the file.
    static func configuration() -> Configuration {
        var config = Configuration()
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(TimeInterval(busyTimeoutMilliseconds) / 1000)
        config.label = "ringmaster-store"
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        return config
    }

    private static func migrate(_ writer: any DatabaseWriter, path: String) throws {
        try translating(path) { try applyMigrations(writer, path: path) }
    }

    private static func applyMigrations(_ writer: any DatabaseWriter, path: String) throws {
        let migrator = Schema.migrator
        try writer.read { db in
            if try migrator.hasBeenSuperseded(db) {
                let known = Set(migrator.migrations)
                let unknown = try migrator.appliedIdentifiers(db).subtracting(known).sorted()
                throw StoreError.newerSchema(path: path, unknownMigrations: unknown)
            }
        }
        try migrator.migrate(writer)
    }

    /// Identifiers of the migrations applied to this database, oldest first.
    public func appliedMigrations() throws -> [String] {
        try writer.read { db in try Schema.migrator.completedMigrations(db) }
    }

    /// Runs `body` in one write transaction (all or nothing). A file SQLite cannot write (full, locked by
    /// another process, an I/O error) throws the matching `StoreError`; the transaction is rolled back and
    /// nothing committed before is touched.
    func transaction<T>(_ body: (Database) throws -> T) throws -> T {
        try Self.translating(path) { try writer.write(body) }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        try Self.translating(path) { try writer.read(body) }
    }

    /// Whether another process holds the database's write lock right now, answered without waiting (a
    /// `BEGIN IMMEDIATE` with no busy timeout, rolled back at once). For retrying writes while the lock is
    /// held without stalling on the busy timeout each time.
    public func writeLockHeldElsewhere() -> Bool {
        let held = try? writer.writeWithoutTransaction { db -> Bool in
            try db.execute(sql: "PRAGMA busy_timeout = 0")
            defer { try? db.execute(sql: "PRAGMA busy_timeout = \(Self.busyTimeoutMilliseconds)") }
            do {
                try db.execute(sql: "BEGIN IMMEDIATE")
                try db.execute(sql: "ROLLBACK")
                return false
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED {
                return true
            }
        }
        return held ?? false
    }

    static let busyTimeoutMilliseconds = 10_000

    /// SQLite's errors about the file itself as `StoreError`s naming it; every other error unchanged.
    static func translating<T>(_ path: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as DatabaseError {
            throw StoreError(error, path: path) ?? error
        }
    }

    /// Inserts an event in the current transaction.
    @discardableResult
    static func insert(_ event: EventRecord, _ db: Database) throws -> EventRecord {
        guard event.kind.isWellFormed else { throw StoreError.malformedEventKind(event.kind.rawValue) }
        var event = event
        try event.insert(db)
        return event
    }
}

extension RingmasterStore {
    /// Takes the database's write lock (`BEGIN EXCLUSIVE`) and runs `body` while holding it, then rolls back:
    /// what another program holding the file locked (a `sqlite3` shell mid-transaction) looks like.
    @_spi(Testing)
    public func holdingWriteLock(_ body: () throws -> Void) throws {
        try writer.writeWithoutTransaction { db in
            try db.execute(sql: "BEGIN EXCLUSIVE")
            defer { try? db.execute(sql: "ROLLBACK") }
            try body()
        }
    }

    /// Copies the WAL into the database file and truncates it to nothing (`wal_checkpoint(TRUNCATE)`), so
    /// the next write must take new space: full-disk tests fill the disk right after.
    @_spi(Testing)
    public func truncateWAL() throws {
        _ = try writer.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
    }

    /// Runs `body` inside one write transaction with the event-insert helper, for crash tests that need
    /// to stop a process while a transaction is open.
    @_spi(Testing)
    public func withWriteTransaction(_ body: (_ insert: (EventRecord) throws -> Void) throws -> Void) throws {
        try transaction { db in
            try body { event in try Self.insert(event, db) }
        }
    }
}

extension StoreError {
    /// The store's error for a SQLite error about the file (full, locked, I/O); nil for any other.
    init?(_ error: DatabaseError, path: String) {
        switch error.resultCode {
        case .SQLITE_FULL: self = .diskFull(path: path)
        case .SQLITE_BUSY, .SQLITE_LOCKED: self = .locked(path: path)
        case .SQLITE_IOERR, .SQLITE_READONLY:
            // ENOSPC surfaces as SQLITE_FULL from writes, but as an I/O error from some (the shared-memory index).
            if error.extendedResultCode == .SQLITE_IOERR_SHMSIZE {
                self = .diskFull(path: path)
            } else {
                self = .ioError(path: path, reason: error.message ?? "SQLite error \(error.extendedResultCode.rawValue)")
            }
        default: return nil
        }
    }
}
