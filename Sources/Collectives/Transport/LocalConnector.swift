#if canImport(Glibc)
import Glibc
import SystemUtilities
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The in-process fake network: ranks are threads of one process, connections are
/// `socketpair(2)` stream pairs. Same engine, same framing, no TCP and no rendezvous.
public final class LocalHub: @unchecked Sendable {
    private let lock = PosixLock()
    /// The end waiting for the second party, by "group|low|high".
    private var pending: [String: (claimer: Int, fd: Int32)] = [:]
    public let worldSize: Int

    public init(worldSize: Int) { self.worldSize = worldSize }

    public func connector(rank: Int) -> LocalConnector { LocalConnector(hub: self, worldRank: rank) }

    func endpoint(group: String, from me: Int, to peer: Int) throws(CollectiveError) -> Int32 {
        let key = "\(group)|\(min(me, peer))|\(max(me, peer))"
        lock.lock()
        defer { lock.unlock() }
        if let waiting = pending[key] {
            guard waiting.claimer == me else {
                throw .invalidArgument("rank \(me) asked twice for its connection to \(peer) in group \(group)")
            }
            pending[key] = nil
            return waiting.fd
        }
        var fds: [Int32] = [0, 0]
        #if canImport(Glibc)
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        #else
        let type = SOCK_STREAM
        #endif
        guard socketpair(AF_UNIX, type, 0, &fds) == 0 else {
            throw .invalidArgument("socketpair failed: \(String(cString: strerror(errno)))")
        }
        for fd in fds { Socket.tuneForData(fd, bufferBytes: 4 << 20) }
        pending[key] = (peer, fds[1])
        return fds[0]
    }
}

public struct LocalConnector: Connector {
    let hub: LocalHub
    public let worldRank: Int
    public var worldSize: Int { hub.worldSize }

    public func connect(group: String, to peer: Int, deadline: Deadline) throws(CollectiveError) -> Int32 {
        _ = Socket.ignoreSIGPIPE
        return try hub.endpoint(group: group, from: worldRank, to: peer)
    }

    public func shutdown() {}
}
