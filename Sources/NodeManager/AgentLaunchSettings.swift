import AgentProtocol
import RingmasterModel

/// The agent command line for a node of an inventory.
package enum AgentLaunchSettings {
    package static func options(for node: NodeEntry, inventory: ClusterInventory, shutdownGraceMilliseconds: Int?) -> AgentOptions {
        var o = AgentOptions(mode: .stdio, node: node.id.rawValue)
        o.heartbeatMilliseconds = max(1, Int((inventory.heartbeat.interval.seconds * 1000).rounded()))
        // The node manager pings every agent each interval; an agent that stops hearing it fences itself.
        o.controllerSilenceMilliseconds = max(1, Int((inventory.heartbeat.agentSilenceLimit.seconds * 1000).rounded()))
        if let batch = inventory.heartbeat.reportBatch { o.reportBatchMilliseconds = max(1, Int((batch.seconds * 1000).rounded())) }
        o.discoveryCommand = inventory.discoveryCommand
        // Declared simulated devices (local and test clusters) are simulated by the agent; real hosts discover.
        if !node.accelerators.isEmpty, let kind = node.accelerators.first?.kind,
            node.accelerators.allSatisfy({ $0.kind == kind && $0.uuid.hasPrefix("sim-") })
        {
            o.simulateAccelerators = (node.accelerators.count, kind.rawValue)
        }
        if let g = shutdownGraceMilliseconds { o.shutdownGraceMilliseconds = g }
        return o
    }
}
