import Foundation
import GRDB
import RingmasterModel

extension RingmasterStore {
    /// Adds an inventory node as `connecting`, or updates its address and role if already known
    /// (keeping its state). Records `node.registered` for a new node.
    @discardableResult
    public func registerNode(_ entry: NodeEntry, at now: Date) throws -> NodeRecord {
        try transaction { db in
            if var existing = try NodeRecord.fetchOne(db, key: entry.id.rawValue) {
                existing.host = entry.host
                existing.port = entry.ssh?.port
                existing.spare = entry.spare
                existing.accelerators = entry.accelerators
                try existing.update(db)
                return existing
            }
            let record = NodeRecord(
                id: entry.id, host: entry.host, port: entry.ssh?.port, spare: entry.spare, state: .connecting,
                stateReason: nil, accelerators: entry.accelerators, registeredAt: now, stateChangedAt: now)
            try record.insert(db)
            let role = entry.spare ? "spare" : "node"
            try Self.insert(EventRecord(time: now, kind: .nodeRegistered, nodeId: entry.id,
                                        message: "\(role) \(entry.id) registered at \(entry.host)"), db)
            return record
        }
    }

    /// Moves a node to `state`, with an event giving the cause. No event when the state is unchanged.
    @discardableResult
    public func setNodeState(_ id: NodeID, to state: NodeState, reason: String?, at now: Date) throws -> NodeRecord {
        try transaction { db in
            guard var node = try NodeRecord.fetchOne(db, key: id.rawValue) else { throw StoreError.unknownNode(id) }
            guard node.state != state else { return node }
            let from = node.state
            node.state = state
            node.stateReason = reason
            node.stateChangedAt = now
            try node.update(db)
            let cause = reason.map { ": \($0)" } ?? ""
            try Self.insert(EventRecord(
                time: now, kind: .nodeState, nodeId: id,
                message: "\(id) \(from.rawValue) → \(state.rawValue)\(cause)",
                payload: EventRecord.payload(["from": from.rawValue, "to": state.rawValue])), db)
            return node
        }
    }

    /// Replaces a node's accelerators with what its agent reported.
    public func updateAccelerators(_ id: NodeID, _ accelerators: [Accelerator]) throws {
        try transaction { db in
            guard var node = try NodeRecord.fetchOne(db, key: id.rawValue) else { throw StoreError.unknownNode(id) }
            node.accelerators = accelerators
            try node.update(db)
        }
    }

    public func node(_ id: NodeID) throws -> NodeRecord? {
        try read { db in try NodeRecord.fetchOne(db, key: id.rawValue) }
    }

    /// Every node, ordered by name.
    public func nodes() throws -> [NodeRecord] {
        try read { db in try NodeRecord.order(Column("id")).fetchAll(db) }
    }
}
