/// The operator's list of hosts: SSH nodes, `local: N` agents on this machine, slots of a `slurm:` allocation, or
/// `simulated:` agents.
public struct ClusterInventory: Hashable, Codable, Sendable {
    public var name: String
    public var nodes: [NodeEntry]
    public var heartbeat: HeartbeatSettings
    /// Set for `local:` inventories: agents are child processes of the controller, no SSH.
    public var isLocal: Bool
    /// Command run by the agent whose JSON output lists accelerators of kinds it has no code for.
    public var discoveryCommand: String?
    /// Set for `simulated:` inventories: every node is a simulated agent in the controller's process.
    public var simulation: SimulationSettings?
    /// Set for `slurm:` inventories: the nodes are slots of a Slurm allocation, agents started with `srun`.
    public var slurm: SlurmSettings?

    public init(
        name: String, nodes: [NodeEntry], heartbeat: HeartbeatSettings = HeartbeatSettings(), isLocal: Bool,
        discoveryCommand: String? = nil, simulation: SimulationSettings? = nil, slurm: SlurmSettings? = nil
    ) {
        self.slurm = slurm
        self.name = name
        self.nodes = nodes
        self.heartbeat = heartbeat
        self.isLocal = isLocal
        self.discoveryCommand = discoveryCommand
        self.simulation = simulation
    }

    /// Nodes jobs are placed on first, in inventory order.
    public var primaryNodes: [NodeEntry] { nodes.filter { !$0.spare } }
    /// Nodes held back until a failure needs them, in inventory order.
    public var spareNodes: [NodeEntry] { nodes.filter { $0.spare } }
}

/// One host of an inventory, with its SSH settings resolved against the inventory's defaults.
public struct NodeEntry: Hashable, Codable, Sendable {
    public var id: NodeID
    public var host: String
    public var ssh: SSHSettings?
    /// Spares are never placed until a failure needs them.
    public var spare: Bool
    /// Accelerators known before discovery: simulated ones for local and test clusters, or the count an
    /// operator declared for offline placement. Discovery replaces them with what the agent reports.
    public var accelerators: [Accelerator]
    /// Line of the node in its inventory file, for error messages.
    public var line: Int?

    public init(
        id: NodeID, host: String, ssh: SSHSettings? = nil, spare: Bool = false, accelerators: [Accelerator] = [],
        line: Int? = nil
    ) {
        self.id = id
        self.host = host
        self.ssh = ssh
        self.spare = spare
        self.accelerators = accelerators
        self.line = line
    }
}

/// How the controller reaches a node over SSH.
public struct SSHSettings: Hashable, Codable, Sendable {
    public var user: String
    public var port: Int
    /// Absolute path of the private key.
    public var identityFile: String
    /// Absolute path of the known_hosts file host keys are checked against.
    public var knownHosts: String
    /// Accept and record an unknown host key (never a changed one).
    public var trustOnFirstUse: Bool
    public var connectTimeout: Duration

    public init(
        user: String, port: Int = 22, identityFile: String, knownHosts: String, trustOnFirstUse: Bool = false,
        connectTimeout: Duration = .seconds(5)
    ) {
        self.user = user
        self.port = port
        self.identityFile = identityFile
        self.knownHosts = knownHosts
        self.trustOnFirstUse = trustOnFirstUse
        self.connectTimeout = connectTimeout
    }
}

/// Agent heartbeat cadence; a node is lost after `missed` intervals without one.
public struct HeartbeatSettings: Hashable, Codable, Sendable {
    public var interval: Duration
    public var missed: Int
    /// How long agents hold rank step reports to send them as one `steps` message (nil: each at once). For
    /// large clusters: the controller then reads a message per node and window, not per rank and step.
    public var reportBatch: Duration?

    public init(interval: Duration = .seconds(1), missed: Int = 3, reportBatch: Duration? = nil) {
        self.interval = interval
        self.missed = missed
        self.reportBatch = reportBatch
    }

    /// Silence after which a node counts as lost.
    public var lostAfter: Duration { interval * missed }

    /// Silence from its controller after which an agent stops its ranks and exits: twice what the controller
    /// waits for the agent (`lostAfter`), at least a second more. The controller, which pings every interval,
    /// gives up on a partitioned node first; and a controller that is late with its pings — a loaded host, a
    /// long pause — by as much again as it allows its agents does not fence them, which would stop every
    /// job's ranks at once. A partitioned host's ranks are gone by this bound plus the agent's shutdown
    /// grace, without the controller. 6 s with the default 1 s × 3.
    public var agentSilenceLimit: Duration { max(lostAfter * 2, lostAfter + .seconds(1)) }
}
