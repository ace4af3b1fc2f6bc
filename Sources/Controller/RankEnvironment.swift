import RingmasterModel

/// The environment of one rank, exactly as the design's contract says: torchrun's names so an
/// unmodified `torch.distributed` script with `init_method="env://"` works, plus Ringmaster's own.
/// Pure: everything it needs is passed in.
public struct RankEnvironment: Sendable {
    public var job: JobID
    public var spec: JobSpec
    public var attempt: Int
    public var placement: Placement
    public var token: AttemptToken
    /// host:port of the attempt's rendezvous.
    public var rendezvous: String
    /// Address of rank 0's host and a free port there (torch's TCPStore).
    public var masterAddress: String
    public var masterPort: Int
    /// Committed step to resume from; nil on a fresh start.
    public var resumeStep: Int?
    /// Kind of the accelerators on each node (decides CUDA_/HIP_VISIBLE_DEVICES).
    public var acceleratorKinds: [NodeID: AcceleratorKind]
    /// Variables every rank inherits before the job's own `env` (PATH, HOME, LANG, …).
    public var base: [String: String]
    /// The job's own checkpoint folder, `<checkpoint.dir>/<job identity>` (`CheckpointFolder`); nil
    /// without a checkpoint policy.
    public var checkpointDirectory: String?
    /// Each node's position among the nodes in use, and its rank count: worked out once, not per rank (that
    /// was a scan of every rank for each of them, 16 million steps for a 4,096-rank launch).
    private let nodeRanks: [NodeID: Int]
    private let localWorldSizes: [NodeID: Int]

    public init(job: JobID, spec: JobSpec, attempt: Int, placement: Placement, token: AttemptToken,
                rendezvous: String, masterAddress: String, masterPort: Int, resumeStep: Int?,
                acceleratorKinds: [NodeID: AcceleratorKind], base: [String: String], checkpointDirectory: String?) {
        self.job = job
        self.spec = spec
        self.attempt = attempt
        self.placement = placement
        self.token = token
        self.rendezvous = rendezvous
        self.masterAddress = masterAddress
        self.masterPort = masterPort
        self.resumeStep = resumeStep
        self.acceleratorKinds = acceleratorKinds
        self.base = base
        self.checkpointDirectory = checkpointDirectory
        nodeRanks = Dictionary(uniqueKeysWithValues: placement.nodes.enumerated().map { ($1, $0) })
        localWorldSizes = placement.ranks.reduce(into: [:]) { $0[$1.node, default: 0] += 1 }
    }

    /// The variables of `rank`. `RINGMASTER_CONTROL` is added by the agent that owns the socket.
    public func variables(rank: Int) -> [String: String] {
        let r = placement.ranks[rank]
        let p = placement.parallelism
        var env = base.merging(spec.env) { _, job in job }
        let nodeRank = nodeRanks[r.node] ?? 0
        let set: [String: String] = [
            "RANK": "\(rank)",
            "WORLD_SIZE": "\(placement.worldSize)",
            "LOCAL_RANK": "\(r.localRank)",
            "LOCAL_WORLD_SIZE": "\(localWorldSizes[r.node] ?? 0)",
            "NODE_RANK": "\(nodeRank)",
            "GROUP_RANK": "\(nodeRank)",
            "MASTER_ADDR": masterAddress,
            "MASTER_PORT": "\(masterPort)",
            "TORCHELASTIC_RESTART_COUNT": "\(attempt - 1)",
            "TORCHELASTIC_MAX_RESTARTS": "\(spec.failure.maxRestarts)",
            "TORCHELASTIC_RUN_ID": job.rawValue,
            "RINGMASTER_JOB_ID": job.rawValue,
            "RINGMASTER_ATTEMPT": "\(attempt)",
            "RINGMASTER_TP_RANK": "\(r.tp)", "RINGMASTER_TP_SIZE": "\(p.tensor)",
            "RINGMASTER_PP_RANK": "\(r.pp)", "RINGMASTER_PP_SIZE": "\(p.pipeline)",
            "RINGMASTER_DP_RANK": "\(r.dp)", "RINGMASTER_DP_SIZE": "\(p.data)",
            "RINGMASTER_RENDEZVOUS": rendezvous,
            "RINGMASTER_TOKEN": token.rawValue,
            "RINGMASTER_CHECKPOINT_DIR": checkpointDirectory ?? "",
            "RINGMASTER_RESUME_STEP": resumeStep.map(String.init) ?? "",
            "RINGMASTER_RESUME_DIR": resumeStep.flatMap { step in checkpointDirectory.map { "\($0)/step-\(step)" } } ?? "",
            "RINGMASTER_ACCELERATORS": r.devices.map(String.init).joined(separator: ","),
        ]
        env.merge(set) { _, ours in ours }
        let devices = r.devices.map(String.init).joined(separator: ",")
        switch acceleratorKinds[r.node] {
        case .some(.nvidia): env["CUDA_VISIBLE_DEVICES"] = devices
        case .some(.amd): env["HIP_VISIBLE_DEVICES"] = devices
        default: break
        }
        return env
    }
}
