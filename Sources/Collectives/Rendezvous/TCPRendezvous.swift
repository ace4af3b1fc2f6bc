#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Client side of `RendezvousServer` (the value of RINGMASTER_RENDEZVOUS).
public struct TCPRendezvous: Rendezvous {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Parses "host:port".
    public init(address: String) throws(CollectiveError) {
        guard let colon = address.lastIndex(of: ":"), let p = UInt16(address[address.index(after: colon)...]) else {
            throw .invalidArgument("rendezvous address '\(address)' is not host:port (RINGMASTER_RENDEZVOUS)")
        }
        self.init(host: String(address[..<colon]), port: p)
    }

    public func join(_ request: JoinRequest, deadline: Deadline) throws(CollectiveError) -> [PeerAddress] {
        let fd: Int32
        do {
            fd = try Socket.connect(host: host, port: port, deadline: deadline)
        } catch {
            throw .refused("cannot reach the rendezvous at \(host):\(port) (\(error)); is the controller's attempt still running?")
        }
        defer { close(fd) }
        var r = request
        if r.host.isEmpty { r.host = Socket.localHost(fd) }
        let timeoutMs = Int(deadline.pollTimeout())
        // The server answers at the shared deadline; allow it a little slack to do so.
        let readDeadline = Deadline(nanoseconds: deadline.nanoseconds + 5_000_000_000)
        do {
            try Socket.writeAll(fd, Array(RendezvousWire.requestLine(r, timeoutMilliseconds: timeoutMs).utf8), deadline: deadline)
            let head = try Socket.readLine(fd, deadline: readDeadline)
            let count = try RendezvousWire.answerHead(head, request: r).get()
            var table: [PeerAddress] = []
            for _ in 0..<count {
                guard let address = RendezvousWire.address(try Socket.readLine(fd, deadline: readDeadline)) else {
                    throw CollectiveError.refused("malformed rendezvous address table")
                }
                table.append(address)
            }
            return table
        } catch let e as CollectiveError {
            throw e
        } catch {
            throw .refused("the rendezvous at \(host):\(port) closed the connection (\(error)); the controller may have ended the attempt")
        }
    }
}
