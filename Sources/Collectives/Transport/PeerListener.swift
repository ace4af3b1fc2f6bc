#if canImport(Glibc)
import Glibc
import SystemUtilities
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The one listening port of a rank. A dedicated thread blocks in accept(2) (0% CPU when
/// idle); each new connection is authenticated on its own short-lived thread, so a slow or
/// hostile client cannot hold up the others. Refused connections get `REFUSED <reason>` and
/// are closed; they never reach a group.
public final class PeerListener: @unchecked Sendable {
    public let port: UInt16
    let table = ConnectionTable()
    private let fd: Int32
    private let worldRank: Int
    private let worldSize: Int
    private let attempt: Int
    private let token: String
    private let lock = PosixLock()
    private var stopped = false
    /// Refusals so far (for tests and diagnostics).
    public private(set) var refusals: [String] = []

    public init(worldRank: Int, worldSize: Int, attempt: Int, token: String,
                host: String = "0.0.0.0", port: UInt16 = 0) throws(CollectiveError) {
        do {
            (fd, self.port) = try Socket.listen(host: host, port: port)
        } catch {
            throw .invalidArgument("cannot listen on \(host):\(port): \(error)")
        }
        self.worldRank = worldRank
        self.worldSize = worldSize
        self.attempt = attempt
        self.token = token
        runOnDedicatedThread(name: "ringmaster-accept-\(worldRank)", stackSize: 4 << 20) { [self] in acceptLoop() }
    }

    private func acceptLoop() {
        while true {
            let client = Socket.accept(fd)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return  // shut down
            }
            Socket.setNonBlocking(client)
            runOnDedicatedThread(name: "ringmaster-handshake", stackSize: 4 << 20) { [self] in authenticate(client) }
        }
    }

    private func authenticate(_ client: Int32) {
        let deadline = Deadline.after(.seconds(10))
        guard let line = try? Socket.readLine(client, limit: 4096, deadline: deadline),
              let hello = Handshake.parse(line)
        else {
            refuse(client, "not a Ringmaster data connection (bad handshake)", deadline)
            return
        }
        if let why = hello.refusal(me: worldRank, worldSize: worldSize, attempt: attempt, token: token) {
            refuse(client, why, deadline)
            return
        }
        do {
            try Socket.writeAll(client, Array("OK\n".utf8), deadline: deadline)
        } catch {
            close(client)
            return
        }
        if !table.deposit(group: hello.group, peer: hello.from, fd: client) {
            close(client)
        }
    }

    private func refuse(_ client: Int32, _ why: String, _ deadline: Deadline) {
        lock.lock()
        refusals.append(why)
        lock.unlock()
        try? Socket.writeAll(client, Array("REFUSED \(why)\n".utf8), deadline: deadline)
        close(client)
    }

    public func shutdown() {
        lock.lock()
        let already = stopped
        stopped = true
        lock.unlock()
        guard !already else { return }
        Socket.shutdownAndClose(fd)
        for fd in table.close() { close(fd) }
    }

    deinit { shutdown() }
}
