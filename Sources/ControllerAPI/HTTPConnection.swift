import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What went wrong talking to the controller, before any HTTP status came back.
public enum ControllerConnectionError: Error, CustomStringConvertible {
    case badURL(String)
    case unreachable(url: String, reason: String)
    case protocolError(String)

    public var description: String {
        switch self {
        case .badURL(let u): "controller URL \(u) is not http://HOST:PORT"
        case .unreachable(let url, let reason):
            "no controller is answering at \(url) (\(reason)) — start one with `ringmaster controller --cluster FILE`, "
                + "or point at it with --controller URL or $RINGMASTER_CONTROLLER"
        case .protocolError(let m): "unexpected answer from the controller: \(m)"
        }
    }
}

/// A response head: status and lower-cased header names.
public struct HTTPHead: Sendable {
    public var status: Int
    public var headers: [String: String]
}

/// One HTTP/1.1 request on a blocking socket (`Connection: close`): the CLI's whole transport. Call it
/// from a thread of its own, never from a Task on the cooperative pool.
final class HTTPConnection {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var closed = false

    init(host: String, port: Int, url: String, timeoutSeconds: Double) throws {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw ControllerConnectionError.unreachable(url: url, reason: String(cString: gai_strerror(rc)))
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControllerConnectionError.unreachable(url: url, reason: String(cString: strerror(errno))) }
        var tv = timeval(tv_sec: Int(timeoutSeconds), tv_usec: Int((timeoutSeconds - Double(Int(timeoutSeconds))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ControllerConnectionError.unreachable(url: url, reason: reason)
        }
        self.fd = fd
    }

    deinit { if !closed { close(fd) } }

    /// No receive timeout: for streams that wait on the controller (follow).
    func waitForever() {
        var tv = timeval(tv_sec: 0, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ControllerConnectionError.protocolError("send: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    /// Reads more bytes into the buffer; false at end of stream.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                buffer.append(contentsOf: chunk[0..<n])
                return true
            }
            if n == 0 { return false }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK {
                throw ControllerConnectionError.protocolError("the controller did not answer in time")
            }
            throw ControllerConnectionError.protocolError("recv: \(String(cString: strerror(errno)))")
        }
    }

    /// One CRLF-terminated line (without the CRLF); nil at end of stream.
    private func line() throws -> String? {
        while true {
            if let i = buffer.firstIndex(of: 10) {
                var end = i
                if end > 0, buffer[end - 1] == 13 { end -= 1 }
                let text = String(decoding: buffer[0..<end], as: UTF8.self)
                buffer.removeFirst(i + 1)
                return text
            }
            guard try fill() else { return nil }
        }
    }

    private func exactly(_ count: Int) throws -> [UInt8] {
        while buffer.count < count {
            guard try fill() else { throw ControllerConnectionError.protocolError("response ended early") }
        }
        let out = Array(buffer[0..<count])
        buffer.removeFirst(count)
        return out
    }

    func readHead() throws -> HTTPHead {
        guard let statusLine = try line() else { throw ControllerConnectionError.protocolError("no response") }
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw ControllerConnectionError.protocolError("bad status line \(statusLine)")
        }
        var headers: [String: String] = [:]
        while let h = try line(), !h.isEmpty {
            guard let colon = h.firstIndex(of: ":") else { continue }
            headers[h[..<colon].lowercased()] = h[h.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return HTTPHead(status: status, headers: headers)
    }

    /// Calls `chunk` with body bytes as they arrive (chunked, sized or until close); `chunk` returns
    /// false to stop early.
    func readBody(_ head: HTTPHead, _ chunk: ([UInt8]) throws -> Bool) throws {
        if head.headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            while let sizeLine = try line() {
                let hex = sizeLine.split(separator: ";").first.map(String.init) ?? ""
                guard let size = Int(hex.trimmingCharacters(in: .whitespaces), radix: 16) else {
                    throw ControllerConnectionError.protocolError("bad chunk size \(sizeLine)")
                }
                if size == 0 { return }
                let bytes = try exactly(size)
                _ = try line()
                guard try chunk(bytes) else { return }
            }
            return
        }
        if let length = head.headers["content-length"].flatMap({ Int($0) }) {
            _ = try chunk(try exactly(length))
            return
        }
        if !buffer.isEmpty {
            guard try chunk(buffer) else { return }
            buffer.removeAll()
        }
        while try fill() {
            guard try chunk(buffer) else { return }
            buffer.removeAll()
        }
    }
}
