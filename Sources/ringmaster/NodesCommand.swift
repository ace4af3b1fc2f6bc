import ArgumentParser
import ControllerAPI
import Foundation
import JobManifest
import NodeManager
import RingmasterModel
import SimulatedNodes
import SSHNodes

/// `ringmaster nodes`: the controller's nodes with state, reason, accelerators and ranks placed; or, with
/// `--cluster FILE` / `--local N`, a standalone discovery of an inventory without a controller.
struct Nodes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the controller's nodes; with --cluster or --local, discover an inventory's nodes directly.")

    @Option(name: .long, help: "Cluster inventory file.")
    var cluster: String?

    @Option(name: .long, help: "Instead of --cluster: N local agents on this machine (the embedded default).")
    var local: Int?

    @Option(name: .long, help: "Seconds to wait for every node to answer or fail.")
    var timeout: Double = 30

    @Option(name: .long, help: "The ringmaster-agent executable (default: next to this one, or $RINGMASTER_AGENT).")
    var agent: String?

    @Argument(help: "`release NODE`: return a quarantined node to service.")
    var command: [String] = []

    @OptionGroup var client: ClientOptions

    func validate() throws {
        guard cluster == nil || local == nil else { throw ValidationError("give at most one of --cluster FILE or --local N") }
        guard command.isEmpty || (command.count == 2 && command[0] == "release") else {
            throw ValidationError("the only subcommand is `release NODE`")
        }
        if let local, local < 1 { throw ValidationError("--local needs at least 1 node") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    func run() async throws {
        if command.count == 2 {
            let api = try client.client()
            let node = command[1]
            let answer = try await ClientFailure.call {
                try api.post("\(APIVersion.prefix)/nodes/\(node)/release", body: [String: String](), as: [String: String].self)
            }
            return Output.line(answer["message"] ?? "released \(node)")
        }
        guard cluster != nil || local != nil else { return try await fromController() }
        let inventory: ClusterInventory
        if let cluster {
            switch Manifests.cluster(cluster) {
            case .success(let loaded): inventory = loaded.value
            case .failure(let errors): throw Manifests.fail(errors.errors)
            }
        } else {
            let n = local ?? 1
            inventory = ClusterInventory(
                name: "local", nodes: (0..<n).map { NodeEntry(id: NodeID("local-\($0)"), host: "localhost") }, isLocal: true)
        }
        let agentPath = agent ?? Self.defaultAgentPath()
        let transport: any AgentTransport
        if inventory.simulation != nil {
            transport = SimulatedAgentTransport(inventory: inventory)
        } else if inventory.isLocal {
            transport = try LocalAgentTransport(agentExecutable: agentPath)
        } else {
            transport = try SSHAgentTransport(agentExecutable: agentPath)
        }
        let manager = NodeManager(inventory: inventory, transport: transport, helloTimeout: .seconds(timeout))
        manager.start()
        let limit = Duration.milliseconds(Int64(timeout * 1000))
        let settled = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await manager.waitUntilSettled() }
            group.addTask {
                try? await Task.sleep(for: limit)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        print(Self.table(manager.statuses()))
        if !settled { print("(some nodes still connecting after \(timeout) s)") }
        await manager.shutdown()
        if manager.statuses().contains(where: { $0.state != .ready }) { throw ExitCode(1) }
    }

    func fromController() async throws {
        let api = try client.client()
        let nodes = try await ClientFailure.call { try api.get("\(APIVersion.prefix)/nodes", as: [NodeView].self) }
        if client.json { return try Output.json(nodes) }
        let rows = nodes.map { n in
            [n.host, n.id + (n.spare ? " (spare)" : ""), n.state.rawValue, n.cpus.map(String.init) ?? "-",
             n.memoryBytes.map(Self.bytes) ?? "-", Self.accelerators(n.accelerators), String(n.ranks),
             n.warmInterpreters.map(String.init) ?? "-", Human.age(n.since), n.state == .ready ? "" : (n.reason ?? "")]
        }
        print(Output.table(["HOST", "NAME", "STATE", "CPUS", "MEMORY", "ACCELERATORS", "RANKS", "WARM", "SINCE", "REASON"], rows))
    }

    static func defaultAgentPath() -> String {
        if let p = ProcessInfo.processInfo.environment["RINGMASTER_AGENT"], !p.isEmpty { return p }
        return ownDirectory() + "/ringmaster-agent"
    }

    /// The folder of this `ringmaster` executable: the workload programs built with it (`ringmaster-train`,
    /// `ringmaster-smoke`) are there, first on ranks' PATH — wherever the agent comes from.
    static func ownDirectory() -> String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().path
    }

    static func bytes(_ n: UInt64) -> String {
        let gib = Double(n) / Double(1 << 30)
        return gib >= 10 ? String(format: "%.0f GiB", gib) : String(format: "%.1f GiB", gib)
    }

    static func accelerators(_ list: [Accelerator]) -> String {
        guard !list.isEmpty else { return "none (CPU only)" }
        var groups: [(String, Int)] = []
        for a in list {
            let label = a.memoryBytes.map { "\(a.name) (\(bytes($0)))" } ?? a.name
            if let i = groups.firstIndex(where: { $0.0 == label }) { groups[i].1 += 1 } else { groups.append((label, 1)) }
        }
        return groups.map { "\($0.1)× \($0.0)" }.joined(separator: ", ")
    }

    /// One row per node: host, name, state, CPUs, memory, accelerators (or the error for nodes not ready).
    static func table(_ statuses: [NodeStatus]) -> String {
        var rows = [["HOST", "NAME", "STATE", "CPUS", "MEMORY", "ACCELERATORS"]]
        for s in statuses {
            let state = s.state?.rawValue ?? "-"
            if let h = s.hello, s.state == .ready {
                rows.append([s.entry.host, s.entry.id.rawValue, state, "\(h.host.cpuCount)", bytes(h.host.memoryBytes), accelerators(h.accelerators)])
            } else {
                rows.append([s.entry.host, s.entry.id.rawValue, state, "-", "-", s.cause ?? ""])
            }
        }
        return Output.table(rows[0], Array(rows.dropFirst()))
    }
}
