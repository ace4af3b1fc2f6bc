import SystemUtilities

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension POSIX {
    /// Hex SHA-256 of a file's contents (the agent's build hash).
    public static func sha256(ofFile path: String) throws(Error) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Error("open \(path)", errno: errno) }
        defer { close(fd) }
        var hasher = SHA256Hasher()
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buf.deallocate() }
        while true {
            let n = read(fd, buf.baseAddress!, buf.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw Error("read \(path)", errno: errno)
            }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
        }
        return SHA256Hasher.hexString(hasher.finalize())
    }
}
