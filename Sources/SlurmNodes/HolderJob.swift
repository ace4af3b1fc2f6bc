import RingmasterModel

/// A holder job the controller submitted (or the allocation it runs in), and what it is for.
public struct HolderJob: Hashable, Codable, Sendable {
    public enum Purpose: Hashable, Codable, Sendable, CustomStringConvertible {
        /// The allocation of every slot (`nodes + spares`).
        case allocation
        /// One node for a slot whose node Slurm reported lost.
        case replacement(NodeID)
        /// The nodes of the slots of holder job `job`, whose time limit is near: the slots move here.
        case successor(String)

        public var description: String {
            switch self {
            case .allocation: "allocation"
            case .replacement(let slot): "replacement for \(slot)"
            case .successor(let job): "successor of job \(job)"
            }
        }
    }

    public var id: String
    public var purpose: Purpose
    /// The controller submitted it (and cancels it on stop); false for the allocation it runs inside.
    public var submitted: Bool

    public init(id: String, purpose: Purpose, submitted: Bool = true) {
        self.id = id
        self.purpose = purpose
        self.submitted = submitted
    }
}

/// A slot's Slurm node: where its agent step runs.
public struct SlotBinding: Hashable, Sendable {
    public var job: String
    public var host: String
    public var address: String?

    public init(job: String, host: String, address: String? = nil) {
        self.job = job
        self.host = host
        self.address = address
    }
}
