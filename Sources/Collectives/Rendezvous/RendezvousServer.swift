#if canImport(Glibc)
import Glibc
import SystemUtilities
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The TCP rendezvous of one attempt. The controller hosts one per attempt; the benchmark
/// and tests host their own. One thread blocks in accept(2); each join is served on its own
/// thread that waits (condition variable) for the round's outcome.
public final class RendezvousServer: @unchecked Sendable {
    public let port: UInt16
    public let host: String
    private let fd: Int32
    private let coordinator: RendezvousCoordinator
    private let lock = PosixLock()
    private var stopped = false

    /// `host:port` to listen on; port 0 picks an ephemeral port (read it back from `port`).
    public init(attempt: Int, token: String, worldSize: Int, host: String = "127.0.0.1", port: UInt16 = 0) throws(CollectiveError) {
        do {
            (fd, self.port) = try Socket.listen(host: host, port: port)
        } catch {
            throw .invalidArgument("rendezvous cannot listen on \(host):\(port): \(error)")
        }
        self.host = host
        coordinator = RendezvousCoordinator(attempt: attempt, token: token, worldSize: worldSize)
        runOnDedicatedThread(name: "ringmaster-rendezvous", stackSize: 4 << 20) { [self] in acceptLoop() }
    }

    /// "host:port", the value of RINGMASTER_RENDEZVOUS.
    public var address: String { "\(host):\(port)" }

    private func acceptLoop() {
        while true {
            let client = Socket.accept(fd)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            Socket.setNonBlocking(client)
            runOnDedicatedThread(name: "ringmaster-rendezvous-join", stackSize: 4 << 20) { [self] in serve(client) }
        }
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        guard let line = try? Socket.readLine(client, limit: 8192, deadline: .after(.seconds(10))) else { return }
        let reply: String
        if let (request, deadline) = RendezvousWire.serverRequest(line, now: .now()) {
            var r = request
            if r.host.isEmpty { r.host = Self.peerHost(client) }
            reply = RendezvousWire.answer(Result { () throws(CollectiveError) in try coordinator.join(r, deadline: deadline) })
        } else {
            reply = "REFUSED not a Ringmaster rendezvous request\n"
        }
        try? Socket.writeAll(client, Array(reply.utf8), deadline: .after(.seconds(10)))
    }

    /// The address a client connected from: where its rank can be reached.
    private static func peerHost(_ fd: Int32) -> String {
        var addr = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &len) }
        }
        var buf = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        inet_ntop(AF_INET, &addr.sin_addr, &buf, socklen_t(buf.count))
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public func shutdown() {
        lock.lock()
        let already = stopped
        stopped = true
        lock.unlock()
        if !already { Socket.shutdownAndClose(fd) }
    }

    deinit { shutdown() }
}
