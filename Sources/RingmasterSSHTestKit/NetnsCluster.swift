import Foundation
import RingmasterModel
import RingmasterTestKit
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// A 4-host (by default) test cluster made of network namespaces: a "switch" namespace holding a bridge,
/// one namespace per host and one for the controller side, each joined to the bridge by a veth pair. The
/// test subnet (10.213.0.0/24) exists only inside these namespaces; the machine's own network is untouched.
/// Every host runs its own sshd (host keys and the client key made here). `destroy()` removes it all.
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

    public static let subnet = "10.213.0"
    public let prefix: String
    public let hosts: [Host]
    public let directory: TemporaryDirectory
    public let clientKey: SSHKeyPair
    public let knownHostsFile: String

    public var switchNamespace: String { "\(prefix)-sw" }
    public var controllerNamespaceName: String { "\(prefix)-ctl" }
    /// Path to give `SSHEndpoint.networkNamespace`.
    public var controllerNamespace: String { "/run/netns/\(controllerNamespaceName)" }
    public var controllerAddress: String { "\(Self.subnet).1" }

    private init(prefix: String, hosts: [Host], directory: TemporaryDirectory, clientKey: SSHKeyPair, knownHostsFile: String) {
        self.prefix = prefix
        self.hosts = hosts
        self.directory = directory
        self.clientKey = clientKey
        self.knownHostsFile = knownHostsFile
    }

    /// Makes the namespaces, links and sshds. `startSSHD: false` hosts are created without a running sshd.
    public static func create(hostCount: Int = 4, startSSHD: (Int) -> Bool = { _ in true }) async throws -> NetnsCluster {
        let prefix = "rmt\(getpid() % 100_000)\(Int.random(in: 10...99))"
        let dir = try TemporaryDirectory(prefix: "rm-netns")
        let sw = "\(prefix)-sw", ctl = "\(prefix)-ctl"
        var made: [String] = []
        do {
            for ns in [sw, ctl] + (1...hostCount).map({ "\(prefix)-h\($0)" }) {
                try await ChildProcess.run(["ip", "netns", "add", ns], mergeStderr: true).check()
                made.append(ns)
                try await ChildProcess.run(["ip", "-n", ns, "link", "set", "lo", "up"], mergeStderr: true).check()
            }
            try await ChildProcess.run(["ip", "-n", sw, "link", "add", "br0", "type", "bridge"], mergeStderr: true).check()
            try await ChildProcess.run(["ip", "-n", sw, "link", "set", "br0", "up"], mergeStderr: true).check()
            func attach(_ ns: String, port: String, address: String) async throws {
                try await ChildProcess.run(["ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns], mergeStderr: true).check()
                try await ChildProcess.run(["ip", "-n", sw, "link", "set", port, "master", "br0"], mergeStderr: true).check()
                try await ChildProcess.run(["ip", "-n", sw, "link", "set", port, "up"], mergeStderr: true).check()
                try await ChildProcess.run(["ip", "-n", ns, "addr", "add", "\(address)/24", "dev", "eth0"], mergeStderr: true).check()
                try await ChildProcess.run(["ip", "-n", ns, "link", "set", "eth0", "up"], mergeStderr: true).check()
            }
            try await attach(ctl, port: "vctl", address: "\(subnet).1")
            let clientKey = try await SSHKeyPair.generate(at: dir.file("id_ed25519"))
            var hosts: [Host] = []
            var knownHosts = ""
            for i in 1...hostCount {
                let ns = "\(prefix)-h\(i)"
                let address = "\(subnet).\(10 + i)"
                try await attach(ns, port: "vh\(i)", address: address)
                let hostDir = dir.file("h\(i)")
                try FileManager.default.createDirectory(atPath: hostDir, withIntermediateDirectories: true)
                let hostKey = try await SSHKeyPair.generate(at: "\(hostDir)/ssh_host_ed25519_key")
                let sshd: SSHDServer
                if startSSHD(i) {
                    sshd = try await SSHDServer.start(
                        directory: hostDir, address: address, port: 22, authorizedKeys: [clientKey], hostKey: hostKey, namespace: ns)
                } else {
                    sshd = try await SSHDServer.prepare(
                        directory: hostDir, address: address, port: 22, authorizedKeys: [clientKey], hostKey: hostKey, namespace: ns)
                }
                knownHosts += try sshd.knownHostsLine() + "\n"
                hosts.append(Host(name: "h\(i)", namespace: ns, address: address, sshd: sshd))
            }
            let knownHostsFile = try dir.write("known_hosts", knownHosts)
            return NetnsCluster(prefix: prefix, hosts: hosts, directory: dir, clientKey: clientKey, knownHostsFile: knownHostsFile)
        } catch {
            for ns in made {
                await Self.killAll(inNamespace: ns)
                _ = try? await ChildProcess.run(["ip", "netns", "del", ns], mergeStderr: true)
            }
            throw error
        }
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
            switchNamespace: switchNamespace, hostPort: "vh\(index)", index: index, impairment: impairment, seed: seed)
    }

    /// Cuts host `index` (1-based) off the network: its port leaves the switch's bridge, so no frame passes
    /// either way while the host's own link stays up (as when the switch or a link past the host fails) and
    /// everything on the host keeps running. Open connections see silence, not a reset.
    public func partition(_ index: Int) async throws {
        try await ChildProcess.run(["ip", "-n", switchNamespace, "link", "set", "vh\(index)", "nomaster"], mergeStderr: true).check()
    }

    /// Ends `partition(index)`: the port is back on the bridge.
    public func heal(_ index: Int) async throws {
        try await ChildProcess.run(["ip", "-n", switchNamespace, "link", "set", "vh\(index)", "master", "br0"], mergeStderr: true).check()
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

    /// Kills everything in the namespaces and deletes them.
    public func destroy() async {
        for ns in hosts.map(\.namespace) + [controllerNamespaceName, switchNamespace] {
            await Self.killAll(inNamespace: ns)
            _ = try? await ChildProcess.run(["ip", "netns", "del", ns], mergeStderr: true)
        }
        for h in hosts { await h.sshd.stop() }
        directory.remove()
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
    public static func with(hostCount: Int = 4, _ body: (NetnsCluster, TemporaryDirectory) async throws -> Void) async throws {
        let cluster = try await NetnsCluster.create(hostCount: hostCount)
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
