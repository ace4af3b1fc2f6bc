import Foundation
import RingmasterTestKit
import SystemUtilities

extension NetnsCluster {
    /// How many hosts are set up at once (their links, host keys and sshds): each is a handful of `ip`
    /// commands, an `ssh-keygen` and an sshd start, mostly waiting on the kernel and on process starts.
    static let setupConcurrency = 16

    /// Makes the namespaces, links and sshds, hosts in parallel. `startSSHD: false` hosts are created
    /// without a running sshd. With `privateAgentRoot` (an absolute path), each host's sshd and every session
    /// it starts see that directory as an empty tmpfs of their own, so hosts do not share what is uploaded
    /// there as they share the rest of this machine's disk. A failure part way removes everything made.
    public static func create(
        hostCount: Int = 4, privateAgentRoot: String? = nil, startSSHD: (Int) -> Bool = { _ in true }
    ) async throws -> NetnsCluster {
        let layout = try NetnsLayout(prefix: NetnsLayout.uniquePrefix(), hostCount: hostCount)
        let launching = Set(layout.hostIndices.filter(startSSHD))
        let dir = try TemporaryDirectory(prefix: "rm-netns")
        let teardown = NetnsTeardown()
        do {
            let sw = layout.switchNamespace
            // Switch and controller first, one after the other: the first `ip netns add` on a machine sets up
            // /run/netns, which concurrent first calls would race on.
            for ns in [sw, layout.controllerNamespace] { try await addNamespace(ns, teardown) }
            try await ip(["-n", sw, "link", "add", "br0", "type", "bridge"])
            try await ip(["-n", sw, "link", "set", "br0", "up"])
            try await attach(layout.controllerNamespace, switchNamespace: sw, port: "vctl", address: layout.controllerAddress)
            let clientKey = try await SSHKeyPair.generate(at: dir.file("id_ed25519"))
            let hosts = try await mapConcurrently(layout.hostIndices, limit: setupConcurrency) { i in
                try await makeHost(
                    i, layout, dir: dir, clientKey: clientKey, launch: launching.contains(i), privateDirectory: privateAgentRoot,
                    teardown)
            }
            let knownHosts = try hosts.map { try $0.sshd.knownHostsLine() + "\n" }.joined()
            let knownHostsFile = try dir.write("known_hosts", knownHosts)
            return NetnsCluster(
                layout: layout, hosts: hosts, directory: dir, clientKey: clientKey, knownHostsFile: knownHostsFile,
                privateAgentRoot: privateAgentRoot, teardown: teardown)
        } catch {
            _ = await teardown.removeAll()
            dir.remove()
            throw error
        }
    }

    private static func makeHost(
        _ i: Int, _ layout: NetnsLayout, dir: TemporaryDirectory, clientKey: SSHKeyPair, launch: Bool, privateDirectory: String?,
        _ teardown: NetnsTeardown
    ) async throws -> Host {
        let ns = layout.hostNamespace(i), address = layout.hostAddress(i)
        try await addNamespace(ns, teardown)
        try await attach(ns, switchNamespace: layout.switchNamespace, port: layout.switchPort(i), address: address)
        let hostDir = dir.file(layout.hostName(i))
        try FileManager.default.createDirectory(atPath: hostDir, withIntermediateDirectories: true)
        let hostKey = try await SSHKeyPair.generate(at: "\(hostDir)/ssh_host_ed25519_key")
        let sshd = try await SSHDServer.prepare(
            directory: hostDir, address: address, port: 22, authorizedKeys: [clientKey], hostKey: hostKey, namespace: ns,
            privateDirectory: privateDirectory)
        teardown.made(server: sshd)
        if launch { try await sshd.launch() }
        return Host(name: layout.hostName(i), namespace: ns, address: address, sshd: sshd)
    }

    private static func addNamespace(_ ns: String, _ teardown: NetnsTeardown) async throws {
        try await ip(["netns", "add", ns])
        teardown.made(namespace: ns)
        try await ip(["-n", ns, "link", "set", "lo", "up"])
    }

    /// A veth pair: `port` on the switch's bridge, `eth0` with `address` in `ns`.
    private static func attach(_ ns: String, switchNamespace sw: String, port: String, address: String) async throws {
        try await ip(["-n", sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns])
        try await ip(["-n", sw, "link", "set", port, "master", "br0"])
        try await ip(["-n", sw, "link", "set", port, "up"])
        try await ip(["-n", ns, "addr", "add", "\(address)/24", "dev", "eth0"])
        try await ip(["-n", ns, "link", "set", "eth0", "up"])
    }

    static func ip(_ arguments: [String]) async throws {
        try await ChildProcess.run(["ip"] + arguments, mergeStderr: true).check()
    }
}
