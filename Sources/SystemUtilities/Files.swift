#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension POSIX {
    /// Whole file, at most `limit` bytes; nil when it cannot be read.
    public static func readFile(_ path: String, limit: Int = 1 << 20) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16384)
        while out.count < limit {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, min($0.count, limit - out.count)) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return out
    }

    public static func readText(_ path: String, limit: Int = 1 << 20) -> String? {
        readFile(path, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The fields of `/proc/PID/stat` after the command name (which may hold spaces and parentheses):
    /// `[0]` is the state letter, `[1]` the parent pid, `[11]`/`[12]` utime/stime in clock ticks.
    public static func statFields(_ pid: pid_t) -> [Substring]? {
        guard let stat = readText("/proc/\(pid)/stat", limit: 4096), let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }
}
