import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Sends rank reports (`step N`, `checkpoint N`, `checkpoint-failed N REASON`, `metric NAME VALUE`) to the
/// agent's Unix datagram socket named by `RINGMASTER_CONTROL`, one datagram per line, and receives the
/// controller's requests (`checkpoint-now STEP`) the agent sends back to it: the socket is bound to an
/// abstract address of its own (Linux autobind) so that the agent can answer it.
public final class RankReporter: @unchecked Sendable {
    private let fd: Int32
    private let address: sockaddr_un
    public let path: String

    /// nil when `RINGMASTER_CONTROL` is unset (a plain local run).
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) -> RankReporter? {
        guard let path = env["RINGMASTER_CONTROL"], !path.isEmpty else { return nil }
        return try? RankReporter(path: path)
    }

    public struct PathTooLong: Error {}

    public init(path: String) throws {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw PathTooLong() }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        self.address = addr
        self.path = path
        self.fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        // Autobind: a length of just the family gives the socket a unique abstract name.
        var own = sockaddr_un()
        own.sun_family = sa_family_t(AF_UNIX)
        _ = withUnsafePointer(to: &own) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sa_family_t>.size)) }
        }
        // A report must not stall training for long if the agent is gone: give up after a second.
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    public func step(_ n: Int) { send("step \(n)") }
    public func checkpoint(_ n: Int) { send("checkpoint \(n)") }
    /// This rank's shard of step `n` could not be written (`reason`: why, on one line): the step is never committed.
    public func checkpointFailed(_ n: Int, _ reason: String) { send(Self.checkpointFailedLine(n, reason)) }

    /// `checkpoint-failed N REASON`, the reason on one line and cut to fit a report datagram.
    public static func checkpointFailedLine(_ n: Int, _ reason: String) -> String {
        var words = reason.split(whereSeparator: { $0.isNewline || $0 == "\t" }).joined(separator: " ")
        if words.trimmingCharacters(in: .whitespaces).isEmpty { words = "no reason given" }
        var line = "checkpoint-failed \(n) \(words)"
        while line.utf8.count > 2048 { line.removeLast() }
        return line
    }
    public func metric(_ name: String, _ value: Double) { send("metric \(name) \(value)") }
    /// This rank will be silent up to `seconds` (hang detection waits that long); end it with `sectionEnd`.
    public func section(_ name: String, seconds: Double) { send("section \(name) \(seconds)") }
    public func sectionEnd() { send("section end") }

    /// The newest `checkpoint-now STEP` the agent relayed since the last call (nil when none waits). Never blocks.
    public func checkpointRequest() -> Int? {
        var newest: Int?
        var buffer = [UInt8](repeating: 0, count: 512)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
            if n < 0 { break }
            for line in String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n") {
                let words = line.split(separator: " ")
                if words.count == 2, words[0] == "checkpoint-now", let step = Int(words[1]), step >= 0 {
                    newest = max(newest ?? step, step)
                }
            }
        }
        return newest
    }

    /// Sends one line; returns false if the agent's socket did not take it.
    @discardableResult
    public func send(_ line: String) -> Bool {
        var addr = address
        let bytes = Array(line.utf8)
        let sent = withUnsafePointer(to: &addr) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                sendto(fd, bytes, bytes.count, 0, sa, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return sent == bytes.count
    }
}
