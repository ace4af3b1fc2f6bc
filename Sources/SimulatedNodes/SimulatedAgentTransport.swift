import AgentProtocol
import Foundation
import NodeManager
import RingmasterModel
import Synchronization

/// The transport of `simulated:` inventories: every node's agent is a `SimulatedAgent` in this process, hundreds
/// of them on a few threads (`SimulationShard`s, a node's shard is its index modulo their count), speaking the
/// real protocol's bytes both ways — what the controller reads is decoded and checked by the same
/// `AgentStreamDecoder` as a pipe's or an SSH channel's. It injects the faults `ringmaster chaos` asks for
/// (`NodeFaultInjecting`): a killed node, a stopped agent, a partition of a set of nodes. Threads: `sim-shard-N` run
/// the agents (the simulation's cost); `agent-rx-N` decode their output for the node manager (the controller's).
public final class SimulatedAgentTransport: AgentTransport, NodeFaultInjecting {
    public let settings: SimulationSettings
    let heartbeat: HeartbeatSettings
    let shutdownGrace: Duration
    let shards: [SimulationShard]
    private let indices: [NodeID: Int]
    private let origin: ContinuousClock.Instant
    /// Until when each partitioned node is cut off (monotonic time of this transport).
    private let partitions = Mutex<[NodeID: Duration]>([:])
    private let slots = Atomic<Int>(0)

    /// - Parameter threads: simulation threads; by default one per 128 nodes, 1 to 4.
    public init(inventory: ClusterInventory, threads: Int? = nil, shutdownGrace: Duration = .seconds(2)) {
        settings = inventory.simulation ?? SimulationSettings()
        heartbeat = inventory.heartbeat
        self.shutdownGrace = shutdownGrace
        indices = Dictionary(uniqueKeysWithValues: inventory.nodes.enumerated().map { ($1.id, $0) })
        let count = max(1, threads ?? min(4, (inventory.nodes.count + 127) / 128))
        let origin = ContinuousClock.now
        self.origin = origin
        shards = (0..<count).map { SimulationShard(index: $0, now: { ContinuousClock.now - origin }) }
        shards.forEach { $0.start() }
    }

    deinit { shards.forEach { $0.stop() } }

    func now() -> Duration { ContinuousClock.now - origin }

    /// Threads the simulation runs on, named `sim-shard-N` (the benchmark subtracts their CPU time).
    public var threadCount: Int { shards.count }

    public func open(
        node: NodeEntry, inventory: ClusterInventory, handler: @escaping @Sendable (AgentChannelEvent) -> Void
    ) async throws -> any AgentChannel {
        guard let index = indices[node.id] else { throw SimulatedNodeError("\(node.id) is not a node of the simulated cluster") }
        let now = now()
        if let until = partitions.withLock({ $0[node.id] }), now < until {
            throw SimulatedNodeError("\(node.id) is unreachable: simulated partition for another \((until - now).manifestText)")
        }
        let slot = slots.wrappingAdd(1, ordering: .relaxed).newValue
        let shard = shards[index % shards.count]
        let agent = SimulatedAgent(node: node.id, index: index, settings: settings, heartbeat: heartbeat, shutdownGrace: shutdownGrace)
        shard.post(.open(slot: slot, agent: agent, accelerators: node.accelerators, handler: handler))
        return SimulatedAgentChannel(slot: slot, shard: shard)
    }

    public func inject(_ fault: NodeFault, into nodes: [NodeID]) throws(NodeFaultRefusal) -> String {
        let unknown = nodes.filter { indices[$0] == nil }
        guard unknown.isEmpty, !nodes.isEmpty else {
            throw NodeFaultRefusal(nodes.isEmpty ? "no node named" : "not simulated nodes: \(unknown.map(\.rawValue).joined(separator: ", "))")
        }
        if case .partition(let length) = fault {
            let until = now() + length
            partitions.withLock { p in for node in nodes { p[node] = until } }
        }
        for node in nodes { shards[indices[node]! % shards.count].post(.fault(node, fault)) }
        let names = nodes.map(\.rawValue).joined(separator: ", ")
        switch fault {
        case .kill: return "simulated node \(names) killed (its agent and ranks gone at once)"
        case .stopAgent: return "simulated agent of \(names) stopped (no reads, no heartbeats)"
        case .partition(let length): return "\(names) cut off from the controller for \(length.manifestText)"
        }
    }
}

/// A channel to one simulated agent: what is sent goes, as protocol bytes, to the agent's shard thread.
final class SimulatedAgentChannel: AgentChannel {
    let slot: Int
    let shard: SimulationShard
    private let closed = Atomic<Bool>(false)

    init(slot: Int, shard: SimulationShard) {
        self.slot = slot
        self.shard = shard
    }

    func send(_ message: ControllerMessage) -> Bool {
        guard !closed.load(ordering: .relaxed), let line = try? AgentWire.encodeLine(message) else { return false }
        shard.post(.bytes(slot: slot, line))
        return true
    }

    func close() {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        shard.post(.close(slot: slot))
    }
}

/// A simulated node that cannot be reached.
public struct SimulatedNodeError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
