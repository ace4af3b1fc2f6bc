import SystemUtilities

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The agent's build hash without reading its whole file at every start. Hashing the 24 MB release agent
/// takes about 0.15 s of a core; 16 agents starting at once on a 2-core machine spent over 2 s on it, most
/// of a discovery with the agent current. The hash is remembered beside the file (`FILE.sha256-stamp`)
/// with the file's identity: device, inode, size, and modification and change times in nanoseconds. A
/// start whose file has the same identity takes the hash from there; any write to the file, or a file put in
/// its place, changes the identity (the change time cannot be set back), so it is hashed again.
///
/// The change times come from a coarse kernel clock (one tick: 10 ms at the coarsest, HZ = 100): a write in
/// the same tick as the last change before the stamp would leave the times as they were. So a stamp is
/// written only for a file whose last change is `settled` (two such ticks) older than the moment its identity
/// was read, and only when the identity read again after hashing is the same. An upload ends with a rename
/// and a new start command, which on the machines measured came well past that. `now` (real time, seconds)
/// is an input for tests.
public enum BuildHashStamp {
    public static let settled = 0.02

    public struct Identity: Hashable, Sendable {
        var device, inode, size: UInt64
        var modified, changed: Int64

        /// nil when the file cannot be stat'ed.
        public init?(path: String) {
            var s = stat()
            guard stat(path, &s) == 0 else { return nil }
            device = UInt64(s.st_dev)
            inode = UInt64(s.st_ino)
            size = UInt64(s.st_size)
            modified = Int64(s.st_mtim.tv_sec) * 1_000_000_000 + Int64(s.st_mtim.tv_nsec)
            changed = Int64(s.st_ctim.tv_sec) * 1_000_000_000 + Int64(s.st_ctim.tv_nsec)
        }

        init?(fields: [Substring]) {
            guard fields.count == 5, let d = UInt64(fields[0]), let i = UInt64(fields[1]), let s = UInt64(fields[2]),
                  let m = Int64(fields[3]), let c = Int64(fields[4]) else { return nil }
            (device, inode, size, modified, changed) = (d, i, s, m, c)
        }

        var fields: String { "\(device) \(inode) \(size) \(modified) \(changed)" }
    }

    /// The hex SHA-256 of `path` (a link such as `/proc/self/exe` is followed), and whether it came from the
    /// stamp. A stamp that cannot be written (a read-only directory) is skipped: the file is hashed each time.
    public static func sha256(ofFile path: String, now: Double = realTime()) throws(POSIX.Error) -> (hash: String, fromStamp: Bool) {
        let file = resolved(path)
        let stamp = file + ".sha256-stamp"
        guard let before = Identity(path: file) else { return (try POSIX.sha256(ofFile: file), false) }
        if let text = POSIX.readText(stamp, limit: 512) {
            let fields = text.split(whereSeparator: \.isWhitespace)
            if fields.count == 7, fields[0] == "v1", Identity(fields: Array(fields[1...5])) == before, fields[6].utf8.count == 64 {
                return (String(fields[6]), true)
            }
        }
        let hash = try POSIX.sha256(ofFile: file)
        if Double(before.changed) / 1e9 < now - settled, Identity(path: file) == before {
            write("v1 \(before.fields) \(hash)\n", to: stamp)
        }
        return (hash, false)
    }

    /// Records `hash` for `path` as it is now, without reading it: for a file the controller has just uploaded
    /// as that build. (Its change time is the upload's own, moments ago; no one else writes there.)
    public static func record(_ hash: String, forFile path: String) {
        let file = resolved(path)
        guard let identity = Identity(path: file) else { return }
        write("v1 \(identity.fields) \(hash)\n", to: file + ".sha256-stamp")
    }

    public static func realTime() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_REALTIME, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    private static func resolved(_ path: String) -> String {
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buf, buf.count - 1)
        guard n > 0 else { return path }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Written under a temporary name and renamed over: a concurrent start reads the old stamp or the new.
    private static func write(_ text: String, to path: String) {
        let temp = "\(path).tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        let ok = (try? POSIX.writeAll(fd, Array(text.utf8))) != nil
        close(fd)
        if !ok || rename(temp, path) != 0 { unlink(temp) }
    }
}
