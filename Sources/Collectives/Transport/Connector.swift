/// The network edge of a process group: hands out one connected stream socket per
/// (group, peer) pair. The TCP implementation dials and accepts authenticated connections;
/// `LocalConnector` is the fake for tests (socket pairs inside one process, no TCP).
public protocol Connector: Sendable {
    /// This process's rank in the world.
    var worldRank: Int { get }
    var worldSize: Int { get }
    /// A connected, non-blocking socket to `peer` (a world rank) for the group named `group`.
    /// Both sides call this for the same (group, pair); it returns when the connection is up.
    func connect(group: String, to peer: Int, deadline: Deadline) throws(CollectiveError) -> Int32
    /// Stops accepting connections (idempotent).
    func shutdown()
}
