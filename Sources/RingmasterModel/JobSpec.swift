/// A validated job manifest: what to run, how it is laid out, how it checkpoints and recovers.
public struct JobSpec: Hashable, Codable, Sendable {
    public var name: String
    /// argv of every rank. A manifest `command` given as one string becomes `["/bin/sh", "-c", string]`.
    public var command: [String]
    /// Absolute working directory of the ranks (relative paths were resolved against the manifest's folder).
    public var workdir: String?
    /// Extra environment for every rank, applied before Ringmaster's own variables.
    public var env: [String: String]
    public var parallelism: Parallelism
    public var resources: Resources
    public var checkpoint: CheckpointPolicy?
    public var failure: FailurePolicy
    /// Pre-started interpreters for a Python command (`warm:`); nil = every launch starts a process.
    public var warm: WarmPolicy?
    /// Optional planner inputs (`ringmaster plan`).
    public var model: ModelShape?
    public var hardware: HardwareProfile?

    public init(
        name: String, command: [String], workdir: String? = nil, env: [String: String] = [:],
        parallelism: Parallelism = Parallelism(), resources: Resources = Resources(),
        checkpoint: CheckpointPolicy? = nil, failure: FailurePolicy = FailurePolicy(), warm: WarmPolicy? = nil,
        model: ModelShape? = nil, hardware: HardwareProfile? = nil
    ) {
        self.name = name
        self.command = command
        self.workdir = workdir
        self.env = env
        self.parallelism = parallelism
        self.resources = resources
        self.checkpoint = checkpoint
        self.failure = failure
        self.warm = warm
        self.model = model
        self.hardware = hardware
    }
}

/// What one rank needs from a node.
public struct Resources: Hashable, Codable, Sendable {
    /// Accelerators given to each rank (0 = CPU-only ranks; then `ranksPerNode` sets the node's capacity).
    public var acceleratorsPerRank: Int
    /// Most ranks on one node; nil = as many as the node's accelerators allow.
    public var ranksPerNode: Int?
    /// Only nodes whose accelerators are of this kind are used; nil = any kind.
    public var acceleratorKind: AcceleratorKind?

    public init(acceleratorsPerRank: Int = 1, ranksPerNode: Int? = nil, acceleratorKind: AcceleratorKind? = nil) {
        self.acceleratorsPerRank = acceleratorsPerRank
        self.ranksPerNode = ranksPerNode
        self.acceleratorKind = acceleratorKind
    }
}

/// How and where ranks checkpoint.
public struct CheckpointPolicy: Hashable, Codable, Sendable {
    /// Checkpoint every this many steps.
    public var every: Int
    /// Committed steps kept; older ones are pruned.
    public var keep: Int
    /// Absolute directory seen by every node and the controller.
    public var dir: String
    /// Write shards on a background thread after a snapshot.
    public var async: Bool
    /// A committed `step-N` folder of another job to continue from (absolute): verified at submit, then
    /// imported into this job's own folder before its first launch.
    public var resumeFrom: String?

    public init(every: Int, keep: Int = 3, dir: String, async: Bool = true, resumeFrom: String? = nil) {
        self.every = every
        self.keep = keep
        self.dir = dir
        self.async = async
        self.resumeFrom = resumeFrom
    }
}

/// Restart budget and failure detection settings of a job.
public struct FailurePolicy: Hashable, Codable, Sendable {
    /// Restarts allowed before the job fails (a node loss counts once).
    public var maxRestarts: Int
    /// Initial delay before a restart; doubles per consecutive failure, with jitter.
    public var backoff: Duration
    /// No `step` report for this long (after a first one) is a hang; `auto` derives it from the step
    /// intervals seen (`AdaptiveStallTimeout`).
    public var stallTimeout: StallTimeout
    /// A node with this many failures in the quarantine window is excluded.
    public var quarantineAfter: Int
    /// Smallest data parallelism the job may shrink to; nil = never shrink.
    public var minDataParallel: Int?

    public init(
        maxRestarts: Int = 3, backoff: Duration = .seconds(1), stallTimeout: StallTimeout = .auto,
        quarantineAfter: Int = 3, minDataParallel: Int? = nil
    ) {
        self.maxRestarts = maxRestarts
        self.backoff = backoff
        self.stallTimeout = stallTimeout
        self.quarantineAfter = quarantineAfter
        self.minDataParallel = minDataParallel
    }
}
