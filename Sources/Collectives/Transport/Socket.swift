#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call on a socket: what was being done and errno.
public struct SocketError: Error, Sendable, CustomStringConvertible {
    public var what: String
    public var code: Int32
    public var description: String { "\(what): \(String(cString: strerror(code))) (errno \(code))" }
    /// The connection went away (EOF, reset, broken pipe).
    public var isConnectionLost: Bool { [ECONNRESET, EPIPE, ENOTCONN, ECONNABORTED, 0].contains(code) }
}

/// Thin helpers over POSIX TCP sockets. IPv4; every blocking wait goes through poll(2) with a
/// deadline, so nothing here can wait forever or spin.
enum Socket {
    /// SIGPIPE would kill the process when a peer has gone; we want EPIPE instead.
    static let ignoreSIGPIPE: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    static func fail(_ what: String) -> SocketError { SocketError(what: what, code: errno) }

    static func tcp() throws(SocketError) -> Int32 {
        _ = ignoreSIGPIPE
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw fail("socket") }
        return fd
    }

    static func ipv4(_ host: String, _ port: UInt16) throws(SocketError) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        if inet_pton(AF_INET, host, &addr.sin_addr) == 1 { return addr }
        var hints = addrinfo()
        hints.ai_family = AF_INET
        var res: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &res) == 0, let info = res else {
            throw SocketError(what: "cannot resolve host '\(host)'", code: EINVAL)
        }
        defer { freeaddrinfo(res) }
        info.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { addr.sin_addr = $0.pointee.sin_addr }
        return addr
    }

    /// Listens on host:port (port 0: ephemeral); returns the fd and the bound port.
    static func listen(host: String = "0.0.0.0", port: UInt16 = 0, backlog: Int32 = 512) throws(SocketError) -> (fd: Int32, port: UInt16) {
        let fd = try tcp()
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = try ipv4(host, port)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { let e = fail("bind \(host):\(port)"); close(fd); throw e }
        guard Glibc.listen(fd, backlog) == 0 else { let e = fail("listen"); close(fd); throw e }
        return (fd, localPort(fd))
    }

    static func localPort(_ fd: Int32) -> UInt16 {
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return UInt16(bigEndian: addr.sin_port)
    }

    /// The local IPv4 address of a connected socket: the address peers can reach us on.
    static func localHost(_ fd: Int32) -> String {
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        var buf = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        inet_ntop(AF_INET, &addr.sin_addr, &buf, socklen_t(buf.count))
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Connects with a deadline; the returned fd is blocking-free (O_NONBLOCK set).
    static func connect(host: String, port: UInt16, deadline: Deadline) throws(SocketError) -> Int32 {
        var addr = try ipv4(host, port)
        let fd = try tcp()
        setNonBlocking(fd)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 {
            guard errno == EINPROGRESS else { let e = fail("connect \(host):\(port)"); close(fd); throw e }
            do {
                try wait(fd, events: Int16(POLLOUT), deadline: deadline, what: "connect \(host):\(port)")
            } catch { close(fd); throw error }
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            guard err == 0 else { close(fd); throw SocketError(what: "connect \(host):\(port)", code: err) }
        }
        return fd
    }

    /// Blocking accept(2); the new fd is close-on-exec (so rank processes spawned later don't inherit it).
    static func accept(_ fd: Int32) -> Int32 {
        #if canImport(Glibc)
        let client = Glibc.accept(fd, nil, nil)
        #else
        let client = Darwin.accept(fd, nil, nil)
        #endif
        if client >= 0 { _ = fcntl(client, F_SETFD, FD_CLOEXEC) }
        return client
    }

    static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }

    /// Data-path options: no Nagle delay, big kernel buffers.
    static func tuneForData(_ fd: Int32, bufferBytes: Int32) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        if bufferBytes > 0 {
            var size = bufferBytes
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        setNonBlocking(fd)
    }

    /// Waits until `fd` is ready for `events` or the deadline passes (ETIMEDOUT).
    static func wait(_ fd: Int32, events: Int16, deadline: Deadline, what: String) throws(SocketError) {
        while true {
            var p = pollfd(fd: fd, events: events, revents: 0)
            let n = poll(&p, 1, deadline.pollTimeout())
            if n > 0 { return }
            if n == 0 { throw SocketError(what: what, code: ETIMEDOUT) }
            if errno != EINTR { throw fail(what) }
        }
    }

    /// Writes all bytes of a non-blocking socket before the deadline.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], deadline: Deadline) throws(SocketError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if n > 0 { offset += n; continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                try wait(fd, events: Int16(POLLOUT), deadline: deadline, what: "send")
                continue
            }
            if n < 0 && errno == EINTR { continue }
            throw fail("send")
        }
    }

    /// Reads exactly `count` bytes (EOF before that: code 0) before the deadline.
    static func readExactly(_ fd: Int32, _ count: Int, deadline: Deadline) throws(SocketError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let n = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + offset, count - offset, 0) }
            if n > 0 { offset += n; continue }
            if n == 0 { throw SocketError(what: "connection closed by peer", code: 0) }
            if errno == EAGAIN || errno == EWOULDBLOCK {
                try wait(fd, events: Int16(POLLIN), deadline: deadline, what: "receive")
                continue
            }
            if errno == EINTR { continue }
            throw fail("recv")
        }
        return bytes
    }

    /// Reads one "\n"-terminated line (without the newline), at most `limit` bytes.
    static func readLine(_ fd: Int32, limit: Int = 1 << 20, deadline: Deadline) throws(SocketError) -> String {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = recv(fd, &byte, 1, 0)
            if n == 1 {
                if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
                line.append(byte)
                if line.count > limit { throw SocketError(what: "line longer than \(limit) bytes", code: EMSGSIZE) }
                continue
            }
            if n == 0 { throw SocketError(what: "connection closed by peer", code: 0) }
            if errno == EAGAIN || errno == EWOULDBLOCK {
                try wait(fd, events: Int16(POLLIN), deadline: deadline, what: "receive")
                continue
            }
            if errno == EINTR { continue }
            throw fail("recv")
        }
    }

    /// Wakes every thread blocked on `fd` (poll, recv, send: they see the end of the stream) without
    /// closing it: its owner still closes it, so the number cannot be reused meanwhile.
    static func shutdownOnly(_ fd: Int32) {
        shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Wakes a thread blocked in accept(2) on `fd`, then closes it.
    static func shutdownAndClose(_ fd: Int32) {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}
