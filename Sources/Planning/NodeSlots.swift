import RingmasterModel

/// A node as placement sees it: how many ranks it can take and which devices they get.
public struct NodeSlots: Hashable, Sendable {
    public var id: NodeID
    public var spare: Bool
    /// Ranks this node can hold.
    public var capacity: Int
    /// Device indices in the order ranks take them, `acceleratorsPerRank` at a time.
    public var devices: [Int]
    /// Why the capacity is what it is, for error messages ("2 accelerators, 1 per rank").
    public var reason: String

    public init(id: NodeID, spare: Bool, capacity: Int, devices: [Int], reason: String) {
        self.id = id
        self.spare = spare
        self.capacity = capacity
        self.devices = devices
        self.reason = reason
    }

    /// Capacity of `node` for ranks needing `resources`.
    public init(node: NodeEntry, resources: Resources) {
        let usable = node.accelerators.filter { resources.acceleratorKind == nil || $0.kind == resources.acceleratorKind }
        let perRank = resources.acceleratorsPerRank
        var capacity: Int
        var reason: String
        if perRank == 0 {
            capacity = resources.ranksPerNode ?? 1
            reason = "CPU-only ranks, \(capacity) per node"
        } else {
            capacity = usable.count / perRank
            let kind = resources.acceleratorKind.map { " \($0)" } ?? ""
            reason = "\(usable.count)\(kind) accelerator\(usable.count == 1 ? "" : "s"), \(perRank) per rank"
            if let cap = resources.ranksPerNode, cap < capacity {
                capacity = cap
                reason += ", at most \(cap) per node"
            }
        }
        self.init(id: node.id, spare: node.spare, capacity: capacity, devices: usable.map(\.index), reason: reason)
    }
}
