#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The reading thread of a `ChildProcess`: polls its pipes and the wake pipe (end-of-file there means the
/// child has ended), hands the bytes to the shared state, and once the child has ended takes what is left
/// in the pipes and stops.
struct ChildProcessReader: Sendable {
    struct Pipe: Sendable {
        var fd: Int32
        var isStdout: Bool
    }

    var pipes: [Pipe]
    var wake: Int32
    var state: ChildProcessState

    func run() {
        for p in pipes { POSIX.setNonBlocking(p.fd) }
        var open = pipes
        var buffer = [UInt8](repeating: 0, count: 65536)
        var childEnded = false
        while !childEnded {
            var fds = open.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) } + [pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
            let rc = poll(&fds, nfds_t(fds.count), -1)
            if rc < 0 {
                if errno == EINTR { continue }
                break
            }
            childEnded = fds[open.count].revents != 0
            // After the child's end only what it left is read: a grandchild holding the pipe cannot keep us.
            let limit = childEnded ? 16 : 1
            open = open.enumerated().compactMap { i, p in
                guard fds[i].revents != 0 || childEnded else { return p }
                if read(p, into: &buffer, reads: limit) { return p }
                close(p.fd)
                if p.isStdout { state.stdoutEnded() }
                return nil
            }
        }
        open.forEach { close($0.fd) }
        close(wake)
        state.outputEnded()
    }

    /// Up to `reads` reads; false at end-of-file or on an error.
    private func read(_ p: Pipe, into buffer: inout [UInt8], reads: Int) -> Bool {
        for _ in 0..<reads {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(p.fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return errno == EAGAIN || errno == EWOULDBLOCK
            }
            if n == 0 { return false }
            if p.isStdout { state.stdout(buffer[0..<n]) } else { state.stderr(buffer[0..<n]) }
        }
        return true
    }
}
