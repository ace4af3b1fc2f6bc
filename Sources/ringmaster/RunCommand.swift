import ArgumentParser
import Controller
import ControllerAPI
import Foundation
import JobManifest
import StateStore

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one job to its end in the foreground on a local cluster (agents on this machine).",
        discussion: """
            Starts the inventory's agents, places the job, launches its ranks with the rank environment,
            streams their logs, commits checkpoints, and records everything in the state directory's
            SQLite store. Exit 0 when every rank exits 0, 1 when the job fails, 65 for invalid manifests.
            """)

    @Argument(help: "Job manifest (YAML).")
    var job: String

    @Option(name: .long, help: "Cluster inventory (YAML) with `local:`.")
    var cluster: String

    @Option(name: .long, help: "State directory (default: $RINGMASTER_STATE_DIR or ~/.ringmaster).")
    var stateDir: String?

    func run() async throws {
        let (spec, inventory) = try Manifests.jobAndCluster(job, cluster)
        let directory = StateDirectory.resolve(stateDir)
        let state = directory.path
        // The same lock as the controller's: a controller and a `ringmaster run` never write one store.
        let (lock, store) = try await StateDirectoryExit.map { try directory.openStore() }
        defer { withExtendedLifetime(lock) {} }
        let bin = Nodes.ownDirectory()
        let run = JobRun(
            manifest: spec, inventory: inventory.value, store: store,
            options: JobRunOptions(stateDirectory: state, agentExecutable: Nodes.defaultAgentPath(), binDirectory: bin),
            output: { Output.timestamped($0) })
        let outcome: JobOutcome
        do { outcome = try await StateDirectoryExit.map { try await run.run() } } catch let refused as ManifestErrors {
            throw Manifests.fail(refused.errors)
        }
        switch outcome {
        case .succeeded:
            Output.timestamped("job succeeded; state in \(state)/state.db")
        case .failed(let reason):
            Output.timestamped("job failed: \(reason)")
            throw ExitCode(1)
        }
    }
}
