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
            throw StoreError.cannotOpen(path: path, reason: error.message ?? "\(error)")
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
        config.busyMode = .timeout(10)
        config.label = "ringmaster-store"
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        return config
    }

    private static func migrate(_ writer: any DatabaseWriter, path: String) throws {
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

    /// Runs `body` in one write transaction (all or nothing).
    func transaction<T>(_ body: (Database) throws -> T) throws -> T {
        try writer.write(body)
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        try writer.read(body)
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
    /// Runs `body` inside one write transaction with the event-insert helper, for crash tests that need
    /// to stop a process while a transaction is open.
    @_spi(Testing)
    public func withWriteTransaction(_ body: (_ insert: (EventRecord) throws -> Void) throws -> Void) throws {
        try transaction { db in
            try body { event in try Self.insert(event, db) }
        }
    }
}
