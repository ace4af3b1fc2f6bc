import Foundation
import RingmasterModel

/// Reads and validates a cluster inventory (`Manifests/clusters/*.yaml`).
public enum ClusterInventoryLoader {
    static let topLevel = ["name", "local", "ssh", "nodes", "slurm", "heartbeat", "discoveryCommand", "simulated"]

    public static func load(path: String) throws(ManifestErrors) -> LoadedManifest<ClusterInventory> {
        try parse(try ManifestSource.read(path), file: path)
    }

    /// Validates manifest text; `file` names it in errors and anchors relative paths.
    public static func parse(_ text: String, file: String) throws(ManifestErrors) -> LoadedManifest<ClusterInventory> {
        try ManifestSource.parse(text, file: file, topLevel: topLevel) { InventoryFields(reader: $0).read($1) }
    }
}

/// The field-by-field reading of a cluster inventory.
struct InventoryFields {
    let reader: ManifestReader

    static let sshKeys = ["user", "port", "identityFile", "knownHosts", "trustOnFirstUse", "connectTimeout"]
    static let nodeKeys = ["host", "name", "spare", "accelerators", "acceleratorKind"] + sshKeys

    func read(_ root: YAMLMap) -> ClusterInventory? {
        let name = root.required("name", hint: "name the cluster, e.g. `name: lab`")?.string()
        let heartbeat = readHeartbeat(root.field("heartbeat"))
        let discovery = root.field("discoveryCommand")?.string()
        if let simulated = root.field("simulated") {
            if root.has("local") || root.has("nodes") || root.has("slurm") {
                reader.error(at: simulated.line, "simulated", "an inventory has one of `local:`, `nodes:`, `slurm:` or `simulated:`",
                             hint: "remove `local:`, `nodes:` and `slurm:` to simulate the cluster")
                return nil
            }
            guard let sim = readSimulated(simulated), let name, let heartbeat else { return nil }
            return ClusterInventory(name: name, nodes: sim.nodes, heartbeat: heartbeat, isLocal: false, simulation: sim.settings)
        }
        let nodes: [NodeEntry]?
        var slurm: SlurmSettings?
        let isLocal = root.has("local")
        let sources = ["local", "nodes", "slurm"].filter { root.has($0) }
        if sources.count > 1 {
            reader.error(at: root.field(sources[1])?.line, sources[1],
                         "an inventory has one of `local:`, `nodes:` or `slurm:`, not \(sources.map { "`\($0):`" }.joined(separator: " and "))",
                         hint: "keep `local:` for agents on this machine, `nodes:` for SSH hosts, or `slurm:` for a Slurm allocation")
            nodes = nil
        } else if let local = root.field("local") {
            nodes = readLocal(local)
        } else if let list = root.field("nodes") {
            nodes = readNodes(list, defaults: readSSH(root.field("ssh"), path: "ssh", base: nil))
        } else if let field = root.field("slurm") {
            slurm = SlurmInventoryFields(reader: reader).read(field)
            nodes = slurm?.slots(line: field.line)
        } else {
            reader.error(at: root.line, "nodes", "the inventory lists no hosts",
                         hint: "add `nodes:` with SSH hosts, `local: 4` for agents on this machine, or `slurm: {nodes: 4}`")
            nodes = nil
        }
        guard let name, let heartbeat, let nodes else { return nil }
        return ClusterInventory(name: name, nodes: nodes, heartbeat: heartbeat, isLocal: isLocal,
                                discoveryCommand: discovery, slurm: slurm)
    }

    private func readHeartbeat(_ field: YAMLField?) -> HeartbeatSettings? {
        let defaults = HeartbeatSettings()
        guard let field else { return defaults }
        guard let map = field.map(allowed: ["interval", "missed", "reportBatch"]) else { return nil }
        let interval = map.field("interval").map { $0.duration() } ?? defaults.interval
        let missed = map.field("missed").map { $0.int(min: 1) } ?? defaults.missed
        let batch = map.field("reportBatch").map { $0.duration(allowZero: true) } ?? .some(.zero)
        guard let interval, let missed, let batch else { return nil }
        if batch > interval, let f = map.field("reportBatch") {
            f.fail("\(batch.manifestText) is longer than the heartbeat interval (\(interval.manifestText))",
                   hint: "hold step reports for a fraction of the interval, e.g. `reportBatch: 100ms`")
            return nil
        }
        return HeartbeatSettings(interval: interval, missed: missed, reportBatch: batch > .zero ? batch : nil)
    }

    /// `local: 4`, or `local: {nodes: 4, accelerators: 2, kind: simulated, spares: 1}`.
    private func readLocal(_ field: YAMLField) -> [NodeEntry]? {
        var count: Int?, accelerators: Int? = 1, kind = AcceleratorKind.simulated, spares: Int? = 0
        if case .scalar = field.node {
            count = field.int(min: 1, max: ManifestLimits.localNodes,
                              hint: "the number of local agents, e.g. `local: 4`")
        } else {
            guard let map = field.map(allowed: ["nodes", "accelerators", "kind", "spares"]) else { return nil }
            count = map.required("nodes", hint: "the number of local agents, e.g. `nodes: 4`")?
                .int(min: 1, max: ManifestLimits.localNodes)
            accelerators = map.field("accelerators").map { $0.int(min: 0, max: ManifestLimits.perNode) } ?? 1
            kind = map.field("kind")?.string().map { AcceleratorKind(rawValue: $0) } ?? .simulated
            spares = map.field("spares").map { $0.int(min: 0, max: ManifestLimits.localNodes) } ?? 0
        }
        guard let count, let accelerators, let spares else { return nil }
        return (0..<(count + spares)).map { i in
            let id = NodeID("local-\(i)")
            return NodeEntry(id: id, host: "localhost", spare: i >= count,
                             accelerators: Accelerator.simulated(count: accelerators, kind: kind, node: id.rawValue),
                             line: field.line)
        }
    }

    /// SSH settings of a mapping, each missing field taken from `base` (the inventory's `ssh:` defaults).
    private func readSSH(_ field: YAMLField?, path: String, base: SSHSettings?) -> SSHSettings? {
        let home = "~/.ssh/"
        let fallback = base ?? SSHSettings(
            user: ProcessInfo.processInfo.environment["USER"] ?? "root", port: 22,
            identityFile: reader.absolutePath(home + "id_ed25519"), knownHosts: reader.absolutePath(home + "known_hosts"))
        guard let field else { return fallback }
        guard let map = field.map(allowed: Self.sshKeys) else { return nil }
        return readSSHFields(map, fallback: fallback)
    }

    private func readSSHFields(_ map: YAMLMap, fallback: SSHSettings) -> SSHSettings? {
        let user = map.field("user")?.string() ?? fallback.user
        let port = map.field("port").map { $0.int(min: 1, max: 65535, hint: "a TCP port, 1–65535") } ?? fallback.port
        let identity = map.field("identityFile")?.string().map(reader.absolutePath) ?? fallback.identityFile
        let known = map.field("knownHosts")?.string().map(reader.absolutePath) ?? fallback.knownHosts
        let tofu = map.field("trustOnFirstUse").map { $0.bool() } ?? fallback.trustOnFirstUse
        let timeout = map.field("connectTimeout").map { $0.duration() } ?? fallback.connectTimeout
        guard let port, let tofu, let timeout else { return nil }
        return SSHSettings(user: user, port: port, identityFile: identity, knownHosts: known, trustOnFirstUse: tofu,
                           connectTimeout: timeout)
    }

    private func readNodes(_ field: YAMLField, defaults: SSHSettings?) -> [NodeEntry]? {
        guard let items = field.list() else { return nil }
        guard let defaults else { return nil }
        if items.isEmpty {
            reader.error(at: field.line, field.path, "the list is empty", hint: "list at least one host")
            return nil
        }
        var nodes: [NodeEntry] = []
        var seenNames: [NodeID: Int] = [:]
        var seenAddresses: [String: Int] = [:]
        var ok = true
        for item in items {
            guard let node = readNode(item, defaults: defaults) else { ok = false; continue }
            if let first = seenNames[node.id] {
                reader.error(at: item.line, "\(item.path).name", "node name `\(node.id)` is used twice",
                             hint: "first used on line \(first); give each node its own `name:`")
                ok = false
            }
            let address = "\(node.host):\(node.ssh?.port ?? 22)"
            if let first = seenAddresses[address] {
                reader.error(at: item.line, "\(item.path).host", "`\(address)` is listed twice",
                             hint: "first listed on line \(first)")
                ok = false
            }
            seenNames[node.id] = item.line ?? 0
            seenAddresses[address] = item.line ?? 0
            nodes.append(node)
        }
        return ok ? nodes : nil
    }

    /// A node is a host name, or a mapping with `host:` and optional overrides.
    private func readNode(_ item: YAMLField, defaults: SSHSettings) -> NodeEntry? {
        if case .scalar = item.node {
            guard let host = item.string() else { return nil }
            return NodeEntry(id: NodeID(host), host: host, ssh: defaults, line: item.line)
        }
        guard let map = item.map(allowed: Self.nodeKeys) else { return nil }
        let host = map.required("host", hint: "the address or DNS name the controller connects to")?.string()
        let name = map.field("name")?.string()
        let spare = map.field("spare").map { $0.bool() } ?? false
        let count = map.field("accelerators").map { $0.int(min: 0, max: ManifestLimits.perNode) }
        let kind = map.field("acceleratorKind")?.string().map { AcceleratorKind(rawValue: $0) } ?? .nvidia
        let ssh = readSSHFields(map, fallback: defaults)
        guard let host, let spare, count != .some(nil), let ssh else { return nil }
        let id = NodeID(name ?? host)
        // A declared count lets `ringmaster place` work before discovery; the agent's `hello` replaces it.
        let accelerators = (0..<((count ?? nil) ?? 0)).map {
            Accelerator(index: $0, uuid: "declared-\(id)-\($0)", name: "declared \(kind)", kind: kind)
        }
        return NodeEntry(id: id, host: host, ssh: ssh, spare: spare, accelerators: accelerators, line: item.line)
    }
}
