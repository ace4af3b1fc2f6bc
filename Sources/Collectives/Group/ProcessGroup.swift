import Foundation
import SystemUtilities
import RingmasterModel

/// A set of ranks that run collective operations together: `rank` of `size`, each member a
/// process (or, in tests, a thread) with its own connections to its peers.
///
/// Operations are blocking and run the data path on the calling thread (non-blocking sockets
/// and poll(2), never spinning): call them from a dedicated thread such as the training loop,
/// never from a Swift concurrency task. One operation at a time per group; different groups
/// (world, tensor, data, pipeline) may run concurrently on different threads.
///
/// Failure: every operation has a deadline. When one fails (`timeout`, `peerLost`,
/// `mismatch`) the rank tells its peers (abort frames) so they fail promptly with the same
/// reason, and the group is broken: later operations rethrow the error. Restart the attempt.
public final class ProcessGroup: @unchecked Sendable {
    /// This process's rank in the group, and the group's size.
    public let rank: Int
    public let size: Int
    /// World rank of each group rank.
    public let members: [Int]
    /// Identifies the group on the wire; identical on every member.
    public let name: String
    public let options: GroupOptions

    let connector: any Connector
    private let ownsConnector: Bool
    private let lock = PosixLock()
    private var links: [Link?]
    var sequence: UInt64 = 0
    var p2pSent: [UInt64]
    var p2pReceived: [UInt64]
    private var failure: CollectiveError?
    private var childGenerations: [String: Int] = [:]
    var splitCount = 0
    /// Scratch for the small-message algorithm (grown, kept).
    private var smallScratch = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
    private var smallScratchBytes = 64
    /// The links' descriptors and whether `abort` was called, for `abort` from another thread: it cannot take
    /// `lock`, which a blocked operation holds.
    let abortLock = PosixLock()
    var abortFDs: [Int32] = []
    var aborted = false

    func scratch(_ bytes: Int) -> UnsafeMutableRawPointer {
        if bytes > smallScratchBytes {
            smallScratch.deallocate()
            smallScratch = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            smallScratchBytes = bytes
        }
        return smallScratch
    }

    deinit { smallScratch.deallocate() }

    init(connector: any Connector, members: [Int], name: String, options: GroupOptions, ownsConnector: Bool) {
        guard let me = members.firstIndex(of: connector.worldRank) else {
            preconditionFailure("rank \(connector.worldRank) is not a member of group \(name)")
        }
        self.connector = connector
        self.members = members
        self.rank = me
        self.size = members.count
        self.name = name
        self.options = options
        self.ownsConnector = ownsConnector
        links = Array(repeating: nil, count: members.count)
        p2pSent = Array(repeating: 0, count: members.count)
        p2pReceived = Array(repeating: 0, count: members.count)
    }

    /// The world group over an existing connector (e.g. `LocalHub` for threads in one process).
    public convenience init(connector: any Connector, options: GroupOptions = GroupOptions()) {
        self.init(connector: connector, members: Array(0..<connector.worldSize), name: "world",
                  options: options, ownsConnector: true)
    }

    /// World rank of this process.
    public var worldRank: Int { connector.worldRank }

    /// Joins the world group of an attempt: listens on `listenPort` (0: ephemeral), publishes
    /// that address through the rendezvous and returns once every rank has joined.
    public static func join(rank: Int, worldSize: Int, attempt: Int, token: String,
                            rendezvous: any Rendezvous, options: GroupOptions = GroupOptions(),
                            listenHost: String = "0.0.0.0", listenPort: UInt16 = 0) throws(CollectiveError) -> ProcessGroup {
        guard worldSize >= 1, rank >= 0, rank < worldSize else {
            throw .invalidArgument("rank \(rank) of world size \(worldSize)")
        }
        let listener = try PeerListener(worldRank: rank, worldSize: worldSize, attempt: attempt, token: token,
                                        host: listenHost, port: listenPort)
        let advertised = (listenHost == "0.0.0.0") ? "" : listenHost
        let table: [PeerAddress]
        do {
            table = try rendezvous.join(
                JoinRequest(attempt: attempt, token: token, rank: rank, worldSize: worldSize,
                            host: advertised, port: listener.port),
                deadline: .after(options.joinTimeout))
        } catch {
            listener.shutdown()
            throw error
        }
        let connector = TCPConnector(listener: listener, worldRank: rank, worldSize: worldSize, attempt: attempt,
                                     token: token, addresses: table, socketBufferBytes: options.socketBufferBytes)
        return ProcessGroup(connector: connector, options: options)
    }

    // MARK: Operation shell

    /// Runs one operation under the group lock with a deadline; on failure breaks the group
    /// and tells every connected peer.
    func perform<T>(timeout: Duration?, _ body: (Deadline) throws(CollectiveError) -> T) throws(CollectiveError) -> T {
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw failure }
        if abortLock.withLock({ aborted }) {
            failure = .closed
            throw .closed
        }
        let deadline = Deadline.after(timeout ?? options.timeout)
        do {
            return try body(deadline)
        } catch {
            // An operation ended by `abort` fails as closed, whatever its sockets made of it.
            let error = abortLock.withLock({ aborted }) ? CollectiveError.closed : error
            failure = error
            for case let link? in links { AbortFrame.send(error, from: worldRank, on: link) }
            throw error
        }
    }

    /// The connection to group rank `peer`, made on first use.
    func link(_ peer: Int, deadline: Deadline) throws(CollectiveError) -> Link {
        if let l = links[peer] { return l }
        let fd = try connector.connect(group: name, to: members[peer], deadline: deadline)
        let l = Link(fd: fd, peer: peer, peerGlobal: members[peer])
        links[peer] = l
        abortLock.withLock {
            abortFDs.append(fd)
            if aborted { Socket.shutdownOnly(fd) }
        }
        return l
    }

    /// Connects to every peer an operation will use before it moves any data (dials first,
    /// then waits for higher ranks to dial: waits only point upward, so they cannot form a
    /// cycle). A failure can then be announced to all of them.
    func connectAll(_ peers: [Int], deadline: Deadline) throws(CollectiveError) {
        if peers.allSatisfy({ $0 == rank || links[$0] != nil }) { return }
        for p in Set(peers).sorted(by: { (members[$0] < worldRank ? 0 : 1, $0) < (members[$1] < worldRank ? 0 : 1, $1) })
        where p != rank {
            _ = try link(p, deadline: deadline)
        }
    }

    /// Runs an exchange, also watching every other connection of the group, so an abort or a
    /// lost peer anywhere in the group ends the wait at once.
    func run(_ ex: inout Exchange, deadline: Deadline) throws(CollectiveError) {
        for case let l? in links { ex.watch(l) }
        try ex.run(deadline: deadline)
    }

    /// Closes the group's connections; later operations throw `closed`. Closing the world
    /// group also stops its listener.
    public func close() {
        lock.lock()
        defer { lock.unlock() }
        if failure == nil { failure = .closed }
        abortLock.withLock { abortFDs = [] }  // closed with the links: their numbers may be reused
        links = Array(repeating: nil, count: size)
        if ownsConnector { connector.shutdown() }
    }

    // MARK: Sub-groups

    /// A sub-group of this group's ranks (group ranks, in the order that defines the new
    /// ranks). Every listed rank must call it with the same list and label; no messages are
    /// exchanged and no rendezvous is needed: the new group gets its own connections (its own
    /// ring) through the same listener.
    public func subgroup(ranks: [Int], label: String) throws(CollectiveError) -> ProcessGroup {
        guard ranks.contains(rank) else {
            throw .invalidArgument("rank \(rank) is not in sub-group \(label) \(ranks)")
        }
        guard Set(ranks).count == ranks.count, ranks.allSatisfy({ $0 >= 0 && $0 < size }) else {
            throw .invalidArgument("sub-group \(label) \(ranks) must list distinct ranks of 0..<\(size)")
        }
        let safe = String(label.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
        let key = "\(safe)[\(ranks.map(String.init).joined(separator: ","))]"
        lock.lock()
        let generation = childGenerations[key, default: 0]
        childGenerations[key] = generation + 1
        lock.unlock()
        return ProcessGroup(connector: connector, members: ranks.map { members[$0] },
                            name: "\(name)/\(key)#\(generation)", options: options, ownsConnector: false)
    }

    /// This rank's tensor-parallel group (Megatron order; this must be the world group).
    public func tensorGroup(_ p: Parallelism) throws(CollectiveError) -> ProcessGroup {
        try checkWorld(p)
        return try subgroup(ranks: p.tensorGroup(of: rank), label: "tensor")
    }

    /// This rank's data-parallel group.
    public func dataGroup(_ p: Parallelism) throws(CollectiveError) -> ProcessGroup {
        try checkWorld(p)
        return try subgroup(ranks: p.dataGroup(of: rank), label: "data")
    }

    /// This rank's pipeline group (its stages, in order).
    public func pipelineGroup(_ p: Parallelism) throws(CollectiveError) -> ProcessGroup {
        try checkWorld(p)
        return try subgroup(ranks: p.pipelineGroup(of: rank), label: "pipeline")
    }

    private func checkWorld(_ p: Parallelism) throws(CollectiveError) {
        guard p.worldSize == size else {
            throw .invalidArgument("parallelism \(p.data)×\(p.pipeline)×\(p.tensor) = \(p.worldSize) ranks, but the group has \(size)")
        }
    }

    /// MPI-style split (collective over this group): ranks passing the same `color` form a new
    /// group, ordered by (`key`, old rank). A negative color joins no group (returns nil).
    public func split(color: Int, key: Int, timeout: Duration? = nil) throws(CollectiveError) -> ProcessGroup? {
        var table = [Int64](repeating: 0, count: 2 * size)
        table[2 * rank] = Int64(color)
        table[2 * rank + 1] = Int64(key)
        try allGather(&table, timeout: timeout)
        let n = splitCount
        splitCount += 1
        guard color >= 0 else { return nil }
        let chosen = (0..<size).filter { table[2 * $0] == Int64(color) }
            .sorted { (table[2 * $0 + 1], $0) < (table[2 * $1 + 1], $1) }
        return try subgroup(ranks: chosen, label: "split\(n)-c\(color)")
    }
}
