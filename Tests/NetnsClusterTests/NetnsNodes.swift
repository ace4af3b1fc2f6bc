import NodeManager
import RingmasterModel
import RingmasterSSHTestKit
import RingmasterTestKit
import SSHNodes
import Synchronization

/// The deployments an SSH transport reports, in the order they came.
final class Deployments: Sendable {
    let list = Mutex<[AgentDeployment]>([])
    func add(_ d: AgentDeployment) { list.withLock { $0.append(d) } }
    var all: [AgentDeployment] { list.withLock { $0 } }
}

/// A node manager on a namespace cluster over the real SSH transport, as the namespace suites use it.
enum NetnsNodes {
    /// Agents go to the cluster's private agent root when it has one (a directory of each host's own), else
    /// to a folder of the cluster's directory that every host shares.
    static func transport(_ cluster: NetnsCluster, deployments: Deployments? = nil) throws -> SSHAgentTransport {
        var observer: (@Sendable (AgentDeployment) -> Void)?
        if let deployments { observer = { deployments.add($0) } }
        return try SSHAgentTransport(
            agentExecutable: TestEnvironment.agentExecutable, remoteAgentRoot: cluster.privateAgentRoot ?? cluster.directory.file("agents"),
            networkNamespaces: cluster.connectNamespaces, shutdownGraceMilliseconds: 500, onDeployment: observer)
    }

    static func manager(_ cluster: NetnsCluster, inventory: ClusterInventory? = nil, deployments: Deployments? = nil) throws -> NodeManager {
        NodeManager(
            inventory: inventory ?? cluster.inventory(), transport: try transport(cluster, deployments: deployments),
            backoff: BackoffPolicy(initial: .milliseconds(200), maximum: .seconds(1), jitter: 0.2))
    }
}
