#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// Connections over TCP between processes: the higher world rank of a pair dials the lower
/// one's published address and presents the attempt's token; the lower one's listener
/// authenticates it and hands it over. Connections are made lazily, the first time a group
/// needs a peer, so a ring costs two connections per rank, not N − 1.
public final class TCPConnector: Connector, @unchecked Sendable {
    public let worldRank: Int
    public let worldSize: Int
    public let attempt: Int
    let token: String
    let listener: PeerListener
    let addresses: [PeerAddress]
    let socketBufferBytes: Int32

    init(listener: PeerListener, worldRank: Int, worldSize: Int, attempt: Int, token: String,
         addresses: [PeerAddress], socketBufferBytes: Int32) {
        self.listener = listener
        self.worldRank = worldRank
        self.worldSize = worldSize
        self.attempt = attempt
        self.token = token
        self.addresses = addresses
        self.socketBufferBytes = socketBufferBytes
    }

    public func connect(group: String, to peer: Int, deadline: Deadline) throws(CollectiveError) -> Int32 {
        let fd: Int32
        if worldRank > peer {
            fd = try dial(group: group, peer: peer, deadline: deadline)
        } else {
            guard let accepted = listener.table.claim(group: group, peer: peer, deadline: deadline) else {
                throw .timeout("rank \(peer) never connected to rank \(worldRank) for group \(group)")
            }
            fd = accepted
        }
        Socket.tuneForData(fd, bufferBytes: socketBufferBytes)
        return fd
    }

    private func dial(group: String, peer: Int, deadline: Deadline) throws(CollectiveError) -> Int32 {
        let address = addresses[peer]
        let fd: Int32
        do {
            fd = try Socket.connect(host: address.host, port: address.port, deadline: deadline)
        } catch {
            if error.code == ETIMEDOUT { throw .timeout("connecting to rank \(peer) at \(address.host):\(address.port)") }
            throw .peerLost(rank: peer)
        }
        let hello = Handshake(attempt: attempt, from: worldRank, to: peer, group: group, token: token)
        let answer: String
        do {
            try Socket.writeAll(fd, Array(hello.line.utf8), deadline: deadline)
            answer = try Socket.readLine(fd, limit: 4096, deadline: deadline)
        } catch {
            close(fd)
            if error.code == ETIMEDOUT { throw .timeout("handshake with rank \(peer) at \(address.host):\(address.port)") }
            throw .peerLost(rank: peer)
        }
        guard answer == "OK" else {
            close(fd)
            throw .refused(answer.hasPrefix("REFUSED ") ? String(answer.dropFirst(8)) : "unexpected handshake answer '\(answer)'")
        }
        return fd
    }

    public func shutdown() { listener.shutdown() }
}
