import Foundation
import GRDB
import RingmasterModel
import Synchronization

/// A row of `node`: one host of the inventory and its current state.
public struct NodeRecord: Codable, Hashable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "node"

    public var id: NodeID
    public var host: String
    public var port: Int?
    public var spare: Bool
    public var state: NodeState
    public var stateReason: String?
    /// What the agent reported (or the inventory declared / simulated) — stored as JSON.
    public var accelerators: [Accelerator]
    public var registeredAt: Date
    public var stateChangedAt: Date
}

extension NodeRecord {
    /// Read by hand, the accelerators through `AcceleratorListCache`: decoding every node's JSON list (8 objects
    /// each) was most of a 512-node `GET /v1/nodes`, and the lists hardly ever change.
    public init(row: Row) throws {
        id = NodeID(row["id"] as String)
        host = row["host"]
        port = row["port"]
        spare = row["spare"]
        let stateText: String = row["state"]
        guard let state = NodeState(rawValue: stateText) else {
            throw DatabaseError(message: "node \(row["id"] as String) has an unknown state '\(stateText)'")
        }
        self.state = state
        stateReason = row["stateReason"]
        accelerators = try AcceleratorListCache.shared.list(row["accelerators"] as String)
        registeredAt = row["registeredAt"]
        stateChangedAt = row["stateChangedAt"]
    }
}

/// The decoded accelerator lists of the `node.accelerators` JSON texts seen lately (at most `capacity`).
final class AcceleratorListCache: Sendable {
    static let shared = AcceleratorListCache()
    static let capacity = 16_384
    private let lists = Mutex<[String: [Accelerator]]>([:])

    func list(_ json: String) throws -> [Accelerator] {
        if let hit = lists.withLock({ $0[json] }) { return hit }
        let decoded = try JSONDecoder().decode([Accelerator].self, from: Data(json.utf8))
        lists.withLock { cache in
            if cache.count >= Self.capacity { cache.removeAll(keepingCapacity: true) }
            cache[json] = decoded
        }
        return decoded
    }
}
