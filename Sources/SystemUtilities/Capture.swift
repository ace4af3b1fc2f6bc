#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension POSIX {
    /// Runs `argv` to its end (blocking: call it from a thread of its own, never from the cooperative
    /// pool) and returns how it ended and its stdout, with stderr too when `mergeStderr` (else stderr is
    /// discarded); output past `limit` bytes is dropped. `stdin` is written as the child reads it.
    ///
    /// With a `timeout` the child runs in a process group of its own, and when the time is up the whole
    /// group is killed (SIGKILL) and the status is nil; the output read until then is returned.
    public static func capture(
        _ argv: [String], stdin: String? = nil, mergeStderr: Bool = true, limit: Int = 1 << 20, timeout: Duration? = nil
    ) throws(Error) -> (status: Termination?, output: String) {
        let (r, w) = try makePipe()
        var input: (read: Int32, write: Int32)?
        if stdin != nil {
            do { input = try makePipe() } catch {
                close(r)
                close(w)
                throw error
            }
        }
        let pid: pid_t
        do {
            pid = try spawn(argv, stdin: input.map { .fd($0.read) } ?? .devNull, stdout: .fd(w),
                            stderr: mergeStderr ? .fd(w) : .devNull, newProcessGroup: timeout != nil)
        } catch {
            [r, w, input?.read ?? -1, input?.write ?? -1].filter { $0 >= 0 }.forEach { close($0) }
            throw error
        }
        close(w)
        var pending: [UInt8] = []
        var inputFD: Int32 = -1
        if let input {
            close(input.read)
            pending = Array((stdin ?? "").utf8)
            inputFD = input.write
            setNonBlocking(inputFD)
            if pending.isEmpty {
                close(inputFD)
                inputFD = -1
            }
        }
        let deadline = timeout.map { monotonicNanoseconds() &+ $0.nanoseconds }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        var timedOut = false
        reading: while true {
            var wait: Int32 = -1
            if let deadline {
                let now = monotonicNanoseconds()
                guard now < deadline else {
                    timedOut = true
                    break
                }
                wait = Int32(min((deadline - now + 999_999) / 1_000_000, 1 << 30))
            }
            var fds = [pollfd(fd: r, events: Int16(POLLIN), revents: 0)]
            if inputFD >= 0 { fds.append(pollfd(fd: inputFD, events: Int16(POLLOUT), revents: 0)) }
            let rc = poll(&fds, nfds_t(fds.count), wait)
            if rc < 0, errno == EINTR { continue }
            if rc <= 0 { continue }
            if inputFD >= 0, fds[1].revents != 0 {
                let n = pending.withUnsafeBytes { write(inputFD, $0.baseAddress!, $0.count) }
                if n > 0 { pending.removeFirst(n) }
                if pending.isEmpty || (n < 0 && errno != EINTR && errno != EAGAIN) {
                    close(inputFD)
                    inputFD = -1
                }
            }
            if fds[0].revents != 0 {
                let n = buf.withUnsafeMutableBytes { read(r, $0.baseAddress!, $0.count) }
                if n < 0, errno == EINTR { continue }
                if n <= 0 { break reading }
                if out.count < limit { out += buf[0..<min(n, limit - out.count)] }
            }
        }
        if inputFD >= 0 { close(inputFD) }
        close(r)
        if timedOut { kill(-pid, SIGKILL) }
        let status = wait(pid)
        return (timedOut ? nil : status, String(decoding: out, as: UTF8.self))
    }
}

extension Duration {
    /// Whole nanoseconds (negative durations count as zero).
    var nanoseconds: UInt64 {
        let (s, atto) = components
        guard s >= 0, atto >= 0 else { return 0 }
        return UInt64(s) * 1_000_000_000 + UInt64(atto / 1_000_000_000)
    }
}
