import ArgumentParser
import Controller
import ControllerAPI
import Foundation
import JobManifest
import Logging
import RingmasterModel

/// `ringmaster controller`: the daemon.
struct ControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "Run the controller daemon: node agents, job runner and HTTP API for one cluster.",
        discussion: """
            One controller per state directory (a lock keeps a second one out). The API listens on loopback
            with a bearer token written to STATE_DIR/api-token (mode 0600); STATE_DIR/controller.json says
            where. SIGTERM or SIGINT stops the API, then every running job's ranks, then the agents; jobs
            that were running resume from their newest checkpoint when a controller starts again.
            """)

    @Option(name: .long, help: "Cluster inventory (YAML), or `slurm-here` for the Slurm allocation this runs inside.")
    var cluster: String

    @Option(name: .long, help: "State directory (default: $RINGMASTER_STATE_DIR or ~/.ringmaster).")
    var stateDir: String?

    @Option(name: .long, help: "HOST:PORT the API listens on (port 0 picks a free one).")
    var listen: String = "127.0.0.1:7460"

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = ProcessInfo.processInfo.environment["RINGMASTER_LOG_LEVEL"] ?? "info"

    @Option(name: .long, help: "The ringmaster-agent executable (default: next to this one, or $RINGMASTER_AGENT).")
    var agent: String?

    @Option(name: .long, help: "Seconds between SIGTERM and SIGKILL when ranks are stopped.")
    var grace: Double = 3

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level \(logLevel) is not one of trace, debug, info, notice, warning, error, critical")
        }
        guard listenAddress != nil else { throw ValidationError("--listen \(listen) is not HOST:PORT") }
        guard grace >= 0 else { throw ValidationError("--grace must be 0 or more seconds") }
    }

    var listenAddress: (String, Int)? {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
              (0...65535).contains(port) else { return nil }
        let host = String(listen[..<colon])
        return host.isEmpty ? nil : (host, port)
    }

    func run() async throws {
        let inventory: LoadedManifest<ClusterInventory>
        switch Manifests.cluster(cluster) {
        case .success(let loaded): inventory = loaded
        case .failure(let errors): throw Manifests.fail(errors.errors)
        }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "ringmaster")
        let (host, port) = listenAddress!
        let agentPath = agent ?? Nodes.defaultAgentPath()
        let settings = ControllerSettings(
            inventory: inventory.value, inventoryFile: inventory.file, stateDirectory: StateDirectory.resolve(stateDir),
            listenHost: host, listenPort: port, agentExecutable: agentPath,
            binDirectory: Nodes.ownDirectory(),
            gracePeriod: .milliseconds(Int64(grace * 1000)))
        try await StateDirectoryExit.map { try await ControllerDaemon.run(settings, logger: logger) }
    }
}
