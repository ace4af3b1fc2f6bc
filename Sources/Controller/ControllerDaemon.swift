import AgentProtocol
import ControllerAPI
import Foundation
import Hummingbird
import JobManifest
import Logging
import NodeManager
import RingmasterModel
import ServiceLifecycle
import SimulatedNodes
import SlurmNodes
import SSHNodes
import StateStore
import Synchronization

/// Settings of `ringmaster controller`.
public struct ControllerSettings: Sendable {
    public var inventory: ClusterInventory
    public var inventoryFile: String
    public var stateDirectory: StateDirectory
    public var listenHost: String
    /// 0 picks a free port; `controller.json` in the state directory says which.
    public var listenPort: Int
    public var agentExecutable: String
    /// Ringmaster's own executables, put first on the ranks' PATH.
    public var binDirectory: String
    public var gracePeriod: Duration

    public init(inventory: ClusterInventory, inventoryFile: String, stateDirectory: StateDirectory,
                listenHost: String = "127.0.0.1", listenPort: Int = 7460, agentExecutable: String, binDirectory: String,
                gracePeriod: Duration = .seconds(3)) {
        self.inventory = inventory
        self.inventoryFile = inventoryFile
        self.stateDirectory = stateDirectory
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.agentExecutable = agentExecutable
        self.binDirectory = binDirectory
        self.gracePeriod = gracePeriod
    }
}

/// The controller daemon: one process per state directory, its services in one ServiceGroup — node
/// manager, job runner, HTTP API — stopped in reverse order on SIGTERM/SIGINT (the API stops taking
/// requests, the runner stops every attempt's ranks, then the agents are shut down).
public enum ControllerDaemon {
    public static func run(_ settings: ControllerSettings, logger: Logger) async throws {
        let dir = settings.stateDirectory
        let (lock, store) = try dir.openStore()
        defer { withExtendedLifetime(lock) {} }
        let token = try dir.token()
        let inventory = settings.inventory
        let clock = SystemRunnerClock()
        for node in inventory.nodes { try store.registerNode(node, at: clock.now().wall) }

        let slurm = try await SlurmNodeSource.make(inventory, stateDirectory: dir, store: store, logger: logger)
        let transport: any AgentTransport = if inventory.simulation != nil {
            SimulatedAgentTransport(inventory: inventory)
        } else if let slurm {
            try SlurmAgentTransport(allocation: slurm.allocation, agentExecutable: settings.agentExecutable)
        } else if inventory.isLocal {
            try LocalAgentTransport(agentExecutable: settings.agentExecutable)
        } else {
            try SSHAgentTransport(agentExecutable: settings.agentExecutable)
        }
        let manager = NodeManager(inventory: inventory, transport: transport, forwardsHeartbeats: false)
        let rendezvousHost = inventory.isLocal || inventory.simulation != nil
            ? "127.0.0.1"
            : slurm?.rendezvousHost ?? (inventory.nodes.first.flatMap { NetworkAddress.local(toward: $0.host) } ?? "0.0.0.0")
        let metrics = ControllerMetrics()
        let runner = JobRunner(
            store: store, nodes: manager,
            options: JobRunnerOptions(stateDirectory: dir, binDirectory: settings.binDirectory,
                                      gracePeriod: settings.gracePeriod, local: inventory.isLocal,
                                      rendezvousHost: rendezvousHost, nodeAddress: slurm?.nodeAddress, nodeHost: slurm?.nodeHost,
                                      logsInStateDirectory: inventory.isLocal || slurm != nil,
                                      vacated: slurm?.vacated, quarantined: slurm?.quarantined),
            metrics: metrics, clock: clock, note: { note in Self.log(note, logger) })
        slurm?.allocation.onTimeLimit { [runner] slots, reason in runner.timeLimitApproaching(slots, cause: reason) }
        let events = try EventFeed(store: store)
        let startedAt = clock.now().wall
        let url = ManagedURL()

        let router = Router(context: BasicRequestContext.self)
        let sessions = ConsoleSessions()
        let port: @Sendable () -> Int? = { URLComponents(string: url.value)?.port }
        router.add(middleware: ErrorBodyMiddleware(routes: OpenAPIRoutes(document: ControllerResources.openAPI)))
        router.add(middleware: AccessMiddleware(token: token, sessions: sessions, port: port))
        router.add(middleware: StoreErrorMiddleware())
        APIRoutes(runner: runner, events: events, metrics: metrics, info: {
            ControllerInfo(pid: getpid(), url: url.value, cluster: inventory.name, startedAt: startedAt)
        }, sessions: sessions).register(on: router)
        ConsoleRoutes(sessions: sessions, port: port, assets: ConsoleAssets.load()).register(on: router)
        let app = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(settings.listenHost, port: settings.listenPort),
                                                    serverName: "ringmaster"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? settings.listenPort
                url.value = "http://\(settings.listenHost):\(port)"
                let info = ControllerInfo(pid: getpid(), url: url.value, cluster: inventory.name, startedAt: startedAt)
                do { try dir.writeInfo(info) } catch { logger.error("cannot write \(dir.infoFile): \(error)") }
                logger.info("API listening on \(url.value) (token in \(dir.tokenFile)); state in \(dir.path)")
            },
            logger: logger)

        let group = ServiceGroup(
            services: (slurm.map { [$0.service] } ?? []) + [NodeService(manager: manager), runner, APIService(app: app, close: { events.close(); runner.logs.close() })],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        logger.info("controller for \(inventory.name) (\(inventory.nodes.count) nodes, \(settings.inventoryFile)) starting")
        defer { try? FileManager.default.removeItem(atPath: dir.infoFile) }
        try await group.run()
        logger.info("controller stopped")
    }

    static func log(_ note: RunnerNote, _ logger: Logger) {
        switch note {
        case .text(let job, let text):
            logger.info("\(text)", metadata: job.map { ["job": "\($0)"] } ?? [:])
        case .rankOutput(let job, let rank, let line):
            logger.trace("\(line)", metadata: ["job": "\(job)", "rank": "\(rank)"])
        case .step(let job, let step, let loss):
            logger.debug("step \(step)\(loss.map { String(format: " loss %.4f", $0) } ?? "")", metadata: ["job": "\(job)"])
        case .waiting(let job, let reason):
            logger.debug("\(reason)", metadata: ["job": "\(job)"])
        case .finished(let job, let state, let reason):
            logger.notice("job \(job) \(state.rawValue)\(reason.map { ": \($0)" } ?? "")")
        }
    }
}

/// The API's own URL once the listener is bound.
final class ManagedURL: Sendable {
    private let state = Mutex("")
    var value: String {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}

/// Brings the inventory's nodes up at start and shuts their agents down last.
struct NodeService: Service {
    let manager: NodeManager
    func run() async throws {
        manager.start()
        try? await gracefulShutdown()
        await manager.shutdown()
    }
}

/// The Hummingbird application; on graceful shutdown it first ends the endless streams (events and
/// logs followers), so the server can drain its connections.
struct APIService: Service {
    let app: Application<RouterResponder<BasicRequestContext>>
    let close: @Sendable () -> Void
    func run() async throws {
        try await withGracefulShutdownHandler {
            try await app.run()
        } onGracefulShutdown: {
            close()
        }
    }
}
