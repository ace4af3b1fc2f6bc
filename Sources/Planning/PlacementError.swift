import RingmasterModel

/// Why a layout does not fit the nodes offered. `field` names the job-manifest field to point at.
public struct PlacementError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable {
        /// `parallelism.tensor` exceeds what any single node holds.
        case tensorGroupSpansNodes
        /// Not enough node capacity (in whole tensor groups) for the world size.
        case insufficientCapacity
    }

    public var kind: Kind
    public var field: String
    public var message: String
    public var hint: String

    public init(kind: Kind, field: String, message: String, hint: String) {
        self.kind = kind
        self.field = field
        self.message = message
        self.hint = hint
    }

    public var description: String { "\(field): \(message) — \(hint)" }
}
