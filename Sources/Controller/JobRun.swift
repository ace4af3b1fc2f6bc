import ControllerAPI
import Foundation
import JobManifest
import NodeManager
import RingmasterModel
import StateStore

/// How a foreground job run finished.
public enum JobOutcome: Sendable, Equatable {
    case succeeded
    case failed(String)
}

/// Settings of a foreground run.
public struct JobRunOptions: Sendable {
    public var stateDirectory: String
    public var agentExecutable: String
    /// Prepended to the ranks' PATH so they find Ringmaster's own executables (ringmaster-train).
    public var binDirectory: String
    public var nodeTimeout: Duration

    public init(stateDirectory: String, agentExecutable: String, binDirectory: String,
                nodeTimeout: Duration = .seconds(30)) {
        self.stateDirectory = stateDirectory
        self.agentExecutable = agentExecutable
        self.binDirectory = binDirectory
        self.nodeTimeout = nodeTimeout
    }
}

/// `ringmaster run`: one job to its end in the foreground on a local inventory, through the same
/// `JobRunner` the daemon uses. Starts the agents, waits for them to settle, submits the job, prints
/// what happens, and stops everything when the job ends. A job that does not fit the ready nodes fails
/// at once instead of waiting.
public final class JobRun: Sendable {
    let manifest: LoadedManifest<JobSpec>
    let inventory: ClusterInventory
    let store: RingmasterStore
    let options: JobRunOptions
    let output: @Sendable (String) -> Void

    public init(manifest: LoadedManifest<JobSpec>, inventory: ClusterInventory, store: RingmasterStore,
                options: JobRunOptions, output: @escaping @Sendable (String) -> Void) {
        self.manifest = manifest
        self.inventory = inventory
        self.store = store
        self.options = options
        self.output = output
    }

    public struct LaunchError: Error, CustomStringConvertible {
        public var description: String
    }

    public func run() async throws -> JobOutcome {
        guard inventory.isLocal else {
            throw LaunchError(description: "`ringmaster run` drives local inventories; SSH clusters run under the "
                + "controller daemon (`ringmaster controller`)")
        }
        let clock = SystemRunnerClock()
        for node in inventory.nodes { try store.registerNode(node, at: clock.now().wall) }
        let manager = NodeManager(inventory: inventory,
                                  transport: try LocalAgentTransport(agentExecutable: options.agentExecutable),
                                  helloTimeout: options.nodeTimeout, forwardsHeartbeats: false)
        let (notes, noteFeed) = AsyncStream.makeStream(of: RunnerNote.self)
        let output = self.output
        let runner = JobRunner(
            store: store, nodes: manager,
            options: JobRunnerOptions(stateDirectory: StateDirectory(options.stateDirectory),
                                      binDirectory: options.binDirectory, local: true, rendezvousHost: "127.0.0.1"),
            clock: clock, note: { note in
                Self.print(note, output)
                noteFeed.yield(note)
            })
        let running = Task { try await runner.run() }
        manager.start()
        _ = await manager.waitUntilSettled()
        let job: JobRecord
        do { job = try runner.submit(manifest) } catch {
            runner.requestShutdown()
            try await running.value
            await manager.shutdown()
            throw error
        }
        output("job \(job.id) submitted")
        var outcome = JobOutcome.failed("the runner stopped before the job ended")
        for await note in notes {
            if case .finished(job.id, let state, let reason) = note {
                outcome = state == .succeeded ? .succeeded : .failed(reason ?? state.rawValue)
                break
            }
            if case .waiting(job.id, let reason) = note {
                let failure = "cannot place on the ready nodes: \(reason)"
                _ = try? store.setJobState(job.id, to: .failed, reason: failure, at: clock.now().wall)
                outcome = .failed(failure)
                break
            }
        }
        runner.requestShutdown()
        try await running.value
        await manager.shutdown()
        return outcome
    }

    static func print(_ note: RunnerNote, _ output: @Sendable (String) -> Void) {
        switch note {
        case .text(_, let text): output(text)
        case .rankOutput(_, let rank, let line): output("[rank \(rank)] \(line)")
        case .step(_, let step, let loss?) where step % 10 == 0: output(String(format: "step %d loss %.4f", step, loss))
        case .step, .waiting, .finished: break
        }
    }
}
