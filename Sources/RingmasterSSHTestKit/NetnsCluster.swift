import Foundation
import RingmasterModel
import RingmasterTestKit
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// A test cluster made of network namespaces (4 hosts by default, up to `NetnsLayout.maxHosts`): a "switch"
/// namespace holding a bridge, one namespace per host and one for the controller side, each joined to the
/// bridge by a veth pair. The test subnet (10.213.0.0/24) exists only inside these namespaces; the machine's
/// own network is untouched. Every host runs its own sshd (host keys and the client key made here).
/// `destroy()` removes it all. Names and addresses: `NetnsLayout`; creation: `create` (NetnsCluster+Create).
///
/// The controller reaches the hosts by connecting from `controllerNamespace` (SSH sessions enter it on their
/// own thread, see `SSHEndpoint.networkNamespace`). Its inventory is `Manifests/clusters/netns.yaml`.
public final class NetnsCluster: Sendable {
    public struct Host: Sendable {
        public var name: String
        public var namespace: String
        public var address: String
        public var sshd: SSHDServer
    }

    public static let subnet = NetnsLayout.subnet
    public let layout: NetnsLayout
    public let hosts: [Host]
    public let directory: TemporaryDirectory
    public let clientKey: SSHKeyPair
    public let knownHostsFile: String
    /// The directory each host sees as a tmpfs of its own (see `create`), if any.
    public let privateAgentRoot: String?
    let teardown: NetnsTeardown

    public var prefix: String { layout.prefix }
    public var switchNamespace: String { layout.switchNamespace }
    public var controllerNamespaceName: String { layout.controllerNamespace }
    /// Path to give `SSHEndpoint.networkNamespace`.
    public var controllerNamespace: String { "/run/netns/\(controllerNamespaceName)" }
    public var controllerAddress: String { layout.controllerAddress }

    init(
        layout: NetnsLayout, hosts: [Host], directory: TemporaryDirectory, clientKey: SSHKeyPair, knownHostsFile: String,
        privateAgentRoot: String?, teardown: NetnsTeardown
    ) {
        self.layout = layout
        self.hosts = hosts
        self.directory = directory
        self.clientKey = clientKey
        self.knownHostsFile = knownHostsFile
        self.privateAgentRoot = privateAgentRoot
        self.teardown = teardown
    }

    /// The cluster's inventory (the shape of `Manifests/clusters/netns.yaml`, with this run's key paths).
    public func inventory(
        heartbeat: HeartbeatSettings = HeartbeatSettings(interval: .seconds(1), missed: 3), connectTimeout: Duration = .seconds(2),
        knownHosts: String? = nil, identityFile: String? = nil, trustOnFirstUse: Bool = false, simulatedAccelerators: Int = 2
    ) -> ClusterInventory {
        let ssh = SSHSettings(
            user: "root", port: 22, identityFile: identityFile ?? clientKey.privateKey, knownHosts: knownHosts ?? knownHostsFile,
            trustOnFirstUse: trustOnFirstUse, connectTimeout: connectTimeout)
        return ClusterInventory(
            name: "netns",
            nodes: hosts.map {
                NodeEntry(
                    id: NodeID($0.name), host: $0.address, ssh: ssh,
                    accelerators: Accelerator.simulated(count: simulatedAccelerators, node: $0.name))
            },
            heartbeat: heartbeat, isLocal: false)
    }

    /// Host → namespace to connect from, for `SSHAgentTransport.networkNamespaces`.
    public var connectNamespaces: [String: String] {
        Dictionary(uniqueKeysWithValues: hosts.map { ($0.address, controllerNamespace) })
    }

    /// Kills every sshd of host `index` (1-based): the listener and the open sessions.
    public func killSSHD(_ index: Int) async {
        await Self.killAll(inNamespace: hosts[index - 1].namespace, only: "sshd")
        await hosts[index - 1].sshd.stop()
    }

    /// Delays and drops frames on host `index`'s link (1-based), both ways, until the line is removed: a
    /// user-space `netem` (`DelayLine`), since this kernel has none. The loss is drawn from `seed`.
    public func impair(_ index: Int, _ impairment: LinkImpairment, seed: UInt64 = 1) async throws -> DelayLine {
        try await DelayLine.install(
            switchNamespace: switchNamespace, hostPort: layout.switchPort(index), index: index, impairment: impairment, seed: seed)
    }

    /// Cuts host `index` (1-based) off the network: its port leaves the switch's bridge, so no frame passes
    /// either way while the host's own link stays up (as when the switch or a link past the host fails) and
    /// everything on the host keeps running. Open connections see silence, not a reset.
    public func partition(_ index: Int) async throws {
        try await Self.ip(["-n", switchNamespace, "link", "set", layout.switchPort(index), "nomaster"])
    }

    /// Ends `partition(index)`: the port is back on the bridge.
    public func heal(_ index: Int) async throws {
        try await Self.ip(["-n", switchNamespace, "link", "set", layout.switchPort(index), "master", "br0"])
    }

    /// Processes other than sshd in host `index`'s namespace (1-based): agents and ranks, by pid and name.
    public func processesBesidesSSHD(_ index: Int) async -> [pid_t: String] {
        var out: [pid_t: String] = [:]
        for pid in await Self.pids(inNamespace: hosts[index - 1].namespace) {
            guard let comm = POSIX.readText("/proc/\(pid)/comm")?.trimmingCharacters(in: .whitespacesAndNewlines), comm != "sshd"
            else { continue }
            out[pid] = comm
        }
        return out
    }

    /// Pids of the processes running in a namespace.
    public static func pids(inNamespace ns: String) async -> [pid_t] {
        guard let r = try? await ChildProcess.run(["ip", "netns", "pids", ns], mergeStderr: true) else { return [] }
        return r.standardOutput.split(whereSeparator: \.isWhitespace).compactMap { pid_t($0) }
    }

    static func killAll(inNamespace ns: String, only command: String? = nil) async {
        for pid in await pids(inNamespace: ns) {
            if let command {
                let comm = POSIX.readText("/proc/\(pid)/comm")?.trimmingCharacters(in: .whitespacesAndNewlines)
                guard comm == command else { continue }
            }
            kill(pid, SIGKILL)
        }
    }

    /// Kills everything in the namespaces, deletes them, stops the sshds and removes the directory. Returns
    /// what could not be removed (each naming its namespace): empty when nothing is left.
    @discardableResult
    public func destroy() async -> [String] {
        let left = await teardown.removeAll()
        directory.remove()
        return left
    }

    /// This cluster's namespaces that still exist (after `destroy()`: none).
    public func remainingNamespaces() async -> [String] {
        let listed = (try? await ChildProcess.run(["ip", "netns", "list"], mergeStderr: true).standardOutput) ?? ""
        let names = Set(listed.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
        return layout.allNamespaces.filter(names.contains)
    }

    /// The YAML inventory of this cluster (the shape of `Manifests/clusters/netns.yaml`).
    public func inventoryYAML() -> String {
        var s = """
            name: netns
            ssh: {user: root, port: 22, identityFile: \(clientKey.privateKey), knownHosts: \(knownHostsFile), trustOnFirstUse: false, connectTimeout: 2s}
            heartbeat: {interval: 1s, missed: 3}
            nodes:

            """
        for h in hosts { s += "  - {host: \(h.address), name: \(h.name), port: 22, user: root, spare: false}\n" }
        return s
    }
}

extension NetnsCluster {
    /// Makes a cluster and a scratch directory, runs `body`, and always destroys both.
    public static func with(
        hostCount: Int = 4, privateAgentRoot: String? = nil, _ body: (NetnsCluster, TemporaryDirectory) async throws -> Void
    ) async throws {
        let cluster = try await NetnsCluster.create(hostCount: hostCount, privateAgentRoot: privateAgentRoot)
        let dir = try TemporaryDirectory()
        do {
            try await body(cluster, dir)
        } catch {
            await cluster.destroy()
            dir.remove()
            throw error
        }
        await cluster.destroy()
        dir.remove()
    }
}
