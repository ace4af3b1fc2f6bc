/// Where a rank accepts data connections.
public struct PeerAddress: Sendable, Equatable, Hashable {
    public var rank: Int
    public var host: String
    public var port: UInt16

    public init(rank: Int, host: String, port: UInt16) {
        self.rank = rank
        self.host = host
        self.port = port
    }
}

/// What a rank presents when it joins: the attempt it belongs to, the attempt's secret, and
/// where it listens. An empty `host` means "the address the rendezvous sees me on".
public struct JoinRequest: Sendable, Equatable {
    public var attempt: Int
    public var token: String
    public var rank: Int
    public var worldSize: Int
    public var host: String
    public var port: UInt16

    public init(attempt: Int, token: String, rank: Int, worldSize: Int, host: String = "", port: UInt16) {
        self.attempt = attempt
        self.token = token
        self.rank = rank
        self.worldSize = worldSize
        self.host = host
        self.port = port
    }
}

/// How the ranks of one attempt find each other. Every rank calls `join` once; it returns
/// the address table (index = rank) when all `worldSize` ranks have joined, or fails for all of
/// them with the ranks that never arrived. Wrong tokens and stale attempts are refused.
/// Implementations: `RendezvousServer` + `TCPRendezvous` (processes), `InProcessRendezvous` (tests).
public protocol Rendezvous: Sendable {
    func join(_ request: JoinRequest, deadline: Deadline) throws(CollectiveError) -> [PeerAddress]
}
