/// What the simulated agents of a `simulated:` inventory do: every node is an agent in the controller's own
/// process speaking the real protocol, and every rank it launches is a virtual one that reports `step` every
/// `stepTime` (± `jitter` of it), `checkpoint` every `checkpointEvery` steps, and exits 0 after `steps` (or
/// runs until it is signalled). A rank's command line may override each of them (`--step-time 100ms`, …).
public struct SimulationSettings: Hashable, Codable, Sendable {
    public var stepTime: Duration
    /// Steps between two `checkpoint` reports; nil: never.
    public var checkpointEvery: Int?
    /// Each step interval is `stepTime × (1 ± jitter)`, uniformly; 0 … 1.
    public var jitter: Double
    /// From a rank's start to its first step (rendezvous, restore).
    public var startup: Duration
    /// Steps a rank runs before exiting 0; nil: until it is signalled.
    public var steps: Int?
    /// Seeds every virtual rank's jitter (with its job, attempt and rank), so runs repeat.
    public var seed: UInt64

    public init(
        stepTime: Duration = .seconds(1), checkpointEvery: Int? = nil, jitter: Double = 0, startup: Duration = .zero,
        steps: Int? = nil, seed: UInt64 = 1
    ) {
        self.stepTime = stepTime
        self.checkpointEvery = checkpointEvery
        self.jitter = jitter
        self.startup = startup
        self.steps = steps
        self.seed = seed
    }
}
