import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes that survive a crash: temp file → write → fsync → rename, then fsync of the directory.
enum DurableFile {
    /// Writes `data` to `path` atomically and durably; returns the number of bytes written.
    static func write(_ data: Data, to path: String) throws(CheckpointError) {
        let temp = path + ".tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .writeFailed(path: temp, errno: errno) }
        var failure: Int32 = 0
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                // Large writes in 8 MiB pieces keep each syscall bounded.
                let n = Glibc.write(fd, raw.baseAddress! + offset, min(raw.count - offset, 8 << 20))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                offset += n
            }
        }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        close(fd)
        if failure != 0 {
            unlink(temp)
            throw .writeFailed(path: path, errno: failure)
        }
        guard rename(temp, path) == 0 else {
            let e = errno
            unlink(temp)
            throw .writeFailed(path: path, errno: e)
        }
    }

    /// fsync of a directory, so the names created or renamed in it are durable.
    static func syncDirectory(_ path: String) throws(CheckpointError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .writeFailed(path: path, errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .writeFailed(path: path, errno: errno) }
    }

    /// `mkdir -p`, failing with the errno of the `mkdir` that failed (ENOSPC on a full disk, EACCES, …). A
    /// parent removed meanwhile (another rank's failed save removing the step folder it left empty) is
    /// made again.
    static func makeDirectory(_ path: String) throws(CheckpointError) {
        var attempts = 0
        while true {
            attempts += 1
            do {
                return try makeDirectoryOnce(path)
            } catch {
                if case .writeFailed(_, let code) = error, code == ENOENT, attempts < 3 { continue }
                throw error
            }
        }
    }

    private static func makeDirectoryOnce(_ path: String) throws(CheckpointError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/" + part
            guard mkdir(prefix, 0o755) != 0 else { continue }
            let code = errno
            var st = stat()
            guard code == EEXIST, stat(prefix, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
                throw .writeFailed(path: prefix, errno: code == EEXIST ? ENOTDIR : code)
            }
        }
    }
}
