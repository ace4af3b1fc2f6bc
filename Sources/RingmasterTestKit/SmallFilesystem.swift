import Foundation
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// A small tmpfs mounted on a fresh directory, for full-disk tests (root only): `fill()` takes every free
/// byte with a filler file, `free()` gives it back, `unmount()` takes the filesystem away (`with` does it
/// whatever the body does).
public final class SmallFilesystem: @unchecked Sendable {
    public let path: String
    private let parent: TemporaryDirectory
    private var mounted = false
    public var filler: String { "\(path)/.filler" }

    public struct MountFailed: Error, CustomStringConvertible {
        public var output: String
        public var description: String { "mount -t tmpfs failed: \(output)" }
    }

    /// Mounts a tmpfs of `bytes` (rounded up to pages by the kernel) on `<tmp>/<name>`.
    public init(bytes: Int, name: String = "small-fs") async throws {
        try TestEnvironment.requireRoot()
        parent = try TemporaryDirectory(prefix: "rm-fullfs")
        path = parent.file(name)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let r = try await ChildProcess.run(["mount", "-t", "tmpfs", "-o", "size=\(bytes),mode=0700", "tmpfs", path],
                                           mergeStderr: true)
        guard r.succeeded else { throw MountFailed(output: r.output) }
        mounted = true
    }

    /// Mounts one for `body` and unmounts it afterwards, whether `body` returned or threw.
    public static func with<T>(bytes: Int, name: String = "small-fs", _ body: (SmallFilesystem) async throws -> T)
        async throws -> T
    {
        let fs = try await SmallFilesystem(bytes: bytes, name: name)
        do {
            let result = try await body(fs)
            await fs.unmount()
            return result
        } catch {
            await fs.unmount()
            throw error
        }
    }

    /// Bytes still free on the filesystem.
    public var freeBytes: Int {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return -1 }
        return Int(s.f_bavail) * Int(s.f_frsize)
    }

    /// Writes the filler until the filesystem is full (ENOSPC); returns the bytes it took.
    @discardableResult
    public func fill() -> Int {
        let fd = open(filler, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0xEE, count: 64 << 10)
        var total = 0
        var size = chunk.count
        // Full pages first, then ever smaller pieces for what a page's remainder or an inode leaves.
        while size > 0 {
            let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress!, size) }
            if n > 0 {
                total += n
            } else if n < 0, errno == EINTR {
                continue
            } else {
                size /= 2
            }
        }
        return total
    }

    /// Removes the filler: the space it took is free again.
    public func free() {
        unlink(filler)
    }

    public func unmount() async {
        guard mounted else { return }
        mounted = false
        _ = try? await ChildProcess.run(["umount", "-l", path], mergeStderr: true)
    }

    deinit {
        // A test that failed before unmounting: lazily, so nothing still open there blocks it.
        if mounted {
            if let pid = try? POSIX.spawn(["/bin/umount", "-l", path], stdout: .devNull, stderr: .devNull) {
                _ = POSIX.wait(pid)
            }
        }
    }
}
