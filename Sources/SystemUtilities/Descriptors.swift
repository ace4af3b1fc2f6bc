#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension POSIX {
    /// A broken pipe must be an EPIPE error, never the death of the process.
    public static func ignoreSIGPIPE() {
        signal(SIGPIPE, SIG_IGN)
    }

    public static func setCloseOnExec(_ fd: Int32) {
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }

    public static func setNonBlocking(_ fd: Int32, _ on: Bool = true) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK)
    }

    /// A pipe whose both ends are close-on-exec. (No pipe2 in Swift's Glibc; callers spawn from one thread
    /// or accept that a concurrent spawn may briefly inherit the pipe.)
    public static func makePipe() throws(Error) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw Error("pipe", errno: errno) }
        setCloseOnExec(fds[0])
        setCloseOnExec(fds[1])
        return (fds[0], fds[1])
    }

    /// Writes everything, retrying on EINTR and short writes (blocking descriptors).
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(Error) {
        var off = 0
        while off < bytes.count {
            let n = write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                throw Error("write", errno: errno)
            }
            off += n
        }
    }

    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(Error) {
        let r: Result<Void, Error> = bytes.withUnsafeBytes { buf in
            do throws(Error) {
                try writeAll(fd, buf)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try r.get()
    }
}
