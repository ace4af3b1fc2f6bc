import Foundation
import GRDB
import RingmasterModel

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
