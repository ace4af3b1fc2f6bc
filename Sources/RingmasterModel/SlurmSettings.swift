/// A `slurm:` inventory: nodes come from an allocation held by a holder job (or the allocation this
/// controller runs inside), agents are started with `srun --overlap`, replacements are asked of Slurm.
public struct SlurmSettings: Hashable, Codable, Sendable {
    /// Nodes jobs are placed on.
    public var nodes: Int
    /// Extra nodes held in the same allocation for recovery.
    public var spares: Int
    public var partition: String?
    /// The holder job's time limit in Slurm's notation (`30`, `2:00:00`, `1-12:00:00`).
    public var time: String?
    public var account: String?
    public var constraint: String?
    /// Generic resources per node (`gpu:8`), asked of the holder job and of every agent step.
    public var gresPerNode: String?
    /// Simulated accelerators per node (test clusters), as `local:` inventories have; 0 discovers.
    public var accelerators: Int
    public var acceleratorKind: AcceleratorKind
    /// More `sbatch` arguments, one argv element each (never a shell string).
    public var extraArgs: [String]
    /// Seconds before the time limit at which Slurm signals the holder (`--signal=B:USR1@SECONDS`).
    public var warningSeconds: Int
    /// Use the allocation this controller runs in (`SLURM_JOB_ID`, `SLURM_JOB_NODELIST`) instead of submitting.
    public var existingAllocation: Bool

    public init(
        nodes: Int, spares: Int = 0, partition: String? = nil, time: String? = nil, account: String? = nil,
        constraint: String? = nil, gresPerNode: String? = nil, accelerators: Int = 0,
        acceleratorKind: AcceleratorKind = .simulated, extraArgs: [String] = [], warningSeconds: Int = 300,
        existingAllocation: Bool = false
    ) {
        self.nodes = nodes
        self.spares = spares
        self.partition = partition
        self.time = time
        self.account = account
        self.constraint = constraint
        self.gresPerNode = gresPerNode
        self.accelerators = accelerators
        self.acceleratorKind = acceleratorKind
        self.extraArgs = extraArgs
        self.warningSeconds = warningSeconds
        self.existingAllocation = existingAllocation
    }

    /// Nodes the holder job asks for.
    public var total: Int { nodes + spares }

    /// The inventory's node slots: `slurm-0`… (primaries first, then spares). A slot is bound to a Slurm
    /// node once the allocation runs; a replacement node takes over a lost slot.
    public func slots(line: Int?) -> [NodeEntry] {
        (0..<total).map { i in
            let id = NodeID("slurm-\(i)")
            return NodeEntry(id: id, host: "slurm", spare: i >= nodes, accelerators: declaredAccelerators(node: id), line: line)
        }
    }

    /// Simulated accelerators when `accelerators` asks for them; else the GPUs of `gresPerNode`
    /// (`gpu:8`, `gpu:h100:8`) declared, so `ringmaster place` works before discovery replaces them.
    func declaredAccelerators(node: NodeID) -> [Accelerator] {
        if accelerators > 0 { return Accelerator.simulated(count: accelerators, kind: acceleratorKind, node: node.rawValue) }
        guard let gres = gresPerNode?.split(separator: ":"), gres.first == "gpu", let count = gres.last.flatMap({ Int($0) }) else {
            return []
        }
        return (0..<count).map {
            Accelerator(index: $0, uuid: "declared-\(node)-\($0)", name: "declared \(gres.count == 3 ? String(gres[1]) : "gpu")",
                        kind: .nvidia)
        }
    }
}
