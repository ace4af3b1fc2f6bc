import ControllerAPI
import StateStore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The controller's side of its state directory: create it private, lock it, make the token, write
/// `controller.json`, open the store.
extension StateDirectory {
    /// A state directory others could write to (group or other write permission) is refused: they could
    /// replace the store or the token.
    public struct UnsafeError: Error, CustomStringConvertible {
        public var path: String
        public var mode: mode_t
        public init(path: String, mode: mode_t) {
            self.path = path
            self.mode = mode
        }
        public var description: String {
            "the state directory \(path) is writable by other users (mode \(String(mode & 0o777, radix: 8))) — "
                + "`chmod 700 \(path)`, or choose another with --state-dir"
        }
    }

    /// Creates the directory (mode 0700: it holds manifests, environments, rank output and the API token)
    /// and its `logs/`; refuses one that other users can write.
    public func create() throws {
        let fm = FileManager.default
        if !fm.fileExists(atPath: path) {
            try fm.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        var st = stat()
        guard stat(path, &st) == 0 else { throw POSIXFailure(what: "stat \(path)", code: errno) }
        guard st.st_mode & 0o022 == 0 else { throw UnsafeError(path: path, mode: st.st_mode) }
        if !fm.fileExists(atPath: logs) {
            try fm.createDirectory(atPath: logs, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
    }

    /// `state.db` and its WAL files readable by their owner only (SQLite creates them with the umask).
    public func restrictDatabase() {
        for suffix in ["", "-wal", "-shm"] { chmod(database + suffix, 0o600) }
    }

    /// What the controller and `ringmaster run` do first, alike: create (or check) the directory, take its
    /// lock, open the store and make it private. Throws `UnsafeError`, `LockedError` or the store's error.
    public func openStore() throws -> (lock: StateLock, store: RingmasterStore) {
        try create()
        let lock = try lock()
        let store = try RingmasterStore.open(path: database)
        restrictDatabase()
        return (lock, store)
    }

    public struct LockedError: Error, CustomStringConvertible {
        public var path: String
        public var holder: ControllerInfo?
        public var description: String {
            let who = holder.map { " (pid \($0.pid), API at \($0.url))" } ?? ""
            return "another controller or `ringmaster run`\(who) already uses the state directory \(path) — stop it first, "
                + "or give this one its own with --state-dir"
        }
    }

    /// Takes the directory's exclusive lock for the life of the process (released by the kernel when the
    /// process dies, even by SIGKILL); fails at once when another controller holds it.
    public func lock() throws -> StateLock {
        let fd = open(lockFile, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw POSIXFailure(what: "open \(lockFile)", code: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw LockedError(path: path, holder: readInfo())
        }
        return StateLock(fd: fd)
    }

    /// The API token: read from `api-token`, or made (32 random bytes, hex) and written with mode 0600.
    public func token() throws -> String {
        if let existing = readToken() { return existing }
        var bytes = [UInt8](repeating: 0, count: 32)
        var rng = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = rng.next() }
        let token = bytes.map { String(format: "%02x", $0) }.joined()
        let temp = tokenFile + ".tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw POSIXFailure(what: "create \(temp)", code: errno) }
        fchmod(fd, 0o600)
        let data = Array((token + "\n").utf8)
        let written = write(fd, data, data.count)
        fsync(fd)
        close(fd)
        guard written == data.count, rename(temp, tokenFile) == 0 else {
            throw POSIXFailure(what: "write \(tokenFile)", code: errno)
        }
        return token
    }

    public func writeInfo(_ info: ControllerInfo) throws {
        let data = try APICoding.encoder(pretty: true).encode(info)
        try data.write(to: URL(fileURLWithPath: infoFile), options: .atomic)
    }
}

/// The held lock; closing it (or the process ending) releases it.
public final class StateLock: Sendable {
    let fd: Int32
    init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }
}

/// A failed system call, with what was being done.
public struct POSIXFailure: Error, CustomStringConvertible {
    public var what: String
    public var code: Int32
    public var description: String { "\(what): \(String(cString: strerror(code)))" }
}
