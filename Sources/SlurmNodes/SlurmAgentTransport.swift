import AgentProtocol
import NodeManager
import RingmasterModel
import SystemUtilities

/// Agents of a Slurm inventory: each slot's agent is a step of its holder job,
/// `srun --jobid=J --overlap -w NODE -N1 -n1 ringmaster-agent --stdio`, whose stdin/stdout are the
/// channel (the same pipes as a local agent's; no SSH). A slot without a node yet fails to open with
/// why (the holder job's pending reason): the node is unreachable with that cause, and retried.
public struct SlurmAgentTransport: AgentTransport {
    public let allocation: SlurmAllocation
    public let agentExecutable: String
    public let agentBuildHash: String
    /// How long `open` waits for a slot's node before it reports the slot unreachable.
    public var bindingWait: Duration = .seconds(1)
    public var stderrSink: (@Sendable (NodeID, String) -> Void)?

    public init(allocation: SlurmAllocation, agentExecutable: String, stderrSink: (@Sendable (NodeID, String) -> Void)? = nil) throws {
        self.allocation = allocation
        self.agentExecutable = agentExecutable
        agentBuildHash = try POSIX.sha256(ofFile: agentExecutable)
        self.stderrSink = stderrSink
    }

    public func open(
        node: NodeEntry, inventory: ClusterInventory, handler: @escaping @Sendable (AgentChannelEvent) -> Void
    ) async throws -> any AgentChannel {
        let binding = try await waitForBinding(node.id)
        // A step whose slurmd died cannot be cancelled and keeps the agent's stdin open: the agent stops its
        // ranks when the controller's pings stop (`--controller-silence-ms`, as on every node).
        let options = AgentLaunchSettings.options(for: node, inventory: inventory, shutdownGraceMilliseconds: nil)
        let argv = SlurmCommands.agentStep(job: binding.job, host: binding.host, gres: allocation.settings.gresPerNode,
                                           agent: [agentExecutable] + options.arguments)
        // srun ends once its step has (the agent stops its ranks within the grace, then exits); one that has not
        // 12 s after that is killed, and with it the step.
        let grace = Duration.milliseconds(options.shutdownGraceMilliseconds)
        let channel = try PipeAgentChannel.spawn(argv, node: node.id, exitLimit: grace + .seconds(12), expectedBuildHash: agentBuildHash,
                                                 stderrSink: stderrSink, handler: handler)
        allocation.attach(node.id) { reason in channel.end(reason: reason) }
        return channel
    }

    /// The slot's node; waits a little for an allocation about to start, then fails with why it has none.
    func waitForBinding(_ slot: NodeID) async throws -> SlotBinding {
        let deadline = ContinuousClock.now + bindingWait
        while true {
            switch allocation.binding(for: slot) {
            case .success(let b): return b
            case .failure(let why):
                guard ContinuousClock.now < deadline else { throw why }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }
}
