import AgentProtocol
import Checkpointing
import Collectives
import Foundation
import JobManifest
import NodeManager
import Planning
import RingmasterModel
import StateStore

#if canImport(Glibc)
import Glibc
#endif

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

/// Runs one job to its end in the foreground on a local inventory: starts the agents, places the job
/// on the ready nodes, persists job and attempt, hosts the attempt's rendezvous, launches every rank
/// with its environment, records starts and exits, commits checkpoints, streams logs and progress,
/// and stops the other ranks when one fails. Every state change goes to the store with its event.
/// (The controller daemon will run the same steps for many jobs, with recovery.)
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

    /// Inputs of the run loop: node state changes and agent messages, merged in arrival order.
    enum Input: Sendable {
        case node(NodeEvent)
        case message(NodeMessage)
    }

    public struct LaunchError: Error, CustomStringConvertible {
        public var description: String
    }

    public func run() async throws -> JobOutcome {
        guard inventory.isLocal else {
            throw LaunchError(description: "`ringmaster run` drives local inventories; SSH clusters run under the "
                + "controller daemon")
        }
        let spec = manifest.value
        for node in inventory.nodes { try store.registerNode(node, at: Date()) }
        let manager = NodeManager(inventory: inventory,
                                  transport: try LocalAgentTransport(agentExecutable: options.agentExecutable),
                                  helloTimeout: options.nodeTimeout)
        let (inputs, feed) = AsyncStream.makeStream(of: Input.self)
        let nodeFeed = Task {
            for await event in manager.events { feed.yield(.node(event)) }
        }
        let messageFeed = Task {
            for await message in manager.messages { feed.yield(.message(message)) }
            feed.finish()
        }
        defer {
            nodeFeed.cancel()
            messageFeed.cancel()
        }
        var iterator = inputs.makeAsyncIterator()
        manager.start()
        // Bring-up: record every node transition until none is connecting.
        var states: [NodeID: NodeState] = [:]
        while states.count < inventory.nodes.count || states.values.contains(.connecting) {
            guard let input = await iterator.next() else { break }
            if case .node(let e) = input {
                states[e.node] = e.to
                try record(e)
            }
        }
        let job = try store.submitJob(spec, manifest: manifest.source, manifestPath: manifest.file, at: Date())
        output("job \(job.id) submitted")
        let outcome: JobOutcome
        do {
            outcome = try await runAttempt(job: job, manager: manager, inputs: &iterator)
        } catch {
            _ = try? store.setJobState(job.id, to: .failed, reason: "\(error)", at: Date())
            await manager.shutdown()
            throw error
        }
        await manager.shutdown()
        return outcome
    }

    private func record(_ e: NodeEvent) throws {
        try store.setNodeState(e.node, to: e.to, reason: e.cause, at: e.timestamp)
        output("node \(e.node): \(e.from?.rawValue ?? "-") → \(e.to.rawValue) (\(e.cause))")
    }

    private func runAttempt(job: JobRecord, manager: NodeManager,
                            inputs: inout AsyncStream<Input>.Iterator) async throws -> JobOutcome {
        let spec = manifest.value
        let ready = manager.statuses().filter { $0.state == .ready }
        let slots = ready.map { status -> NodeSlots in
            var entry = status.entry
            if let hello = status.hello { entry.accelerators = hello.accelerators }
            return NodeSlots(node: entry, resources: spec.resources)
        }
        let placement: Placement
        do {
            placement = try Placer(job: spec).place(on: slots)
        } catch {
            let reason = "cannot place on the \(ready.count) ready nodes: \(error.message) — \(error.hint)"
            try store.setJobState(job.id, to: .failed, reason: reason, at: Date())
            return .failed(reason)
        }
        for status in ready {
            if let hello = status.hello { try store.updateAccelerators(status.entry.id, hello.accelerators) }
        }
        let token = AttemptToken.generate()
        let rendezvous = try RendezvousServer(attempt: 1, token: token.rawValue, worldSize: placement.worldSize)
        defer { rendezvous.shutdown() }
        let attempt = try store.startAttempt(job.id, placement: placement, token: token, resumeStep: nil, at: Date())
        let kinds = Dictionary(uniqueKeysWithValues: ready.map {
            ($0.entry.id, $0.hello?.accelerators.first?.kind ?? .simulated)
        })
        let environment = RankEnvironment(
            job: job.id, spec: spec, attempt: attempt.number, placement: placement, token: token,
            rendezvous: rendezvous.address, masterAddress: "127.0.0.1", masterPort: POSIX.freeLoopbackPort(),
            resumeStep: nil, acceleratorKinds: kinds, base: baseEnvironment())
        let logDir = "\(options.stateDirectory)/logs/\(job.id)/attempt-\(attempt.number)"
        for r in placement.ranks {
            let request = LaunchRequest(rank: RankRef(job: job.id, attempt: attempt.number, rank: r.rank),
                                        argv: spec.command, env: environment.variables(rank: r.rank),
                                        cwd: spec.workdir, logDir: logDir)
            guard manager.send(.launch(request), to: r.node) else {
                throw LaunchError(description: "node \(r.node) has no open channel for rank \(r.rank)")
            }
        }
        output("attempt \(attempt.number): launched \(placement.worldSize) ranks on \(placement.nodes.count) nodes "
            + "(rendezvous \(rendezvous.address)); logs in \(logDir)")
        return try await supervise(job: job, attemptID: attempt.id!, placement: placement, manager: manager,
                                   inputs: &inputs)
    }

    /// Follows the attempt until every rank has exited (or its node is gone).
    private func supervise(job: JobRecord, attemptID: Int64, placement: Placement, manager: NodeManager,
                           inputs: inout AsyncStream<Input>.Iterator) async throws -> JobOutcome {
        let spec = manifest.value
        var gone = Set<Int>()
        var failure: String?
        var commits = CommitTracker(worldSize: placement.worldSize)
        let layout = spec.checkpoint.map { CheckpointLayout(directory: $0.dir) }
        // The first rank of the last pipeline stage computes the loss; its reports are the job's progress.
        let lossReporter = placement.ranks.last { $0.tp == 0 && $0.dp == 0 }?.rank ?? 0
        var step = 0
        func fail(_ reason: String) {
            guard failure == nil else { return }
            failure = reason
            output("failure: \(reason); stopping the other ranks")
            for node in placement.nodes {
                manager.send(.signal(SignalRequest(rank: nil, signal: SIGTERM, graceMilliseconds: 3000)), to: node)
            }
        }
        while gone.count < placement.worldSize, let input = await inputs.next() {
            switch input {
            case .node(let e):
                try record(e)
                if e.to == .lost || e.to == .unreachable {
                    let lost = placement.ranks(on: e.node).map(\.rank)
                    if !lost.isEmpty {
                        gone.formUnion(lost)
                        fail("node \(e.node) \(e.to.rawValue): \(e.cause)")
                    }
                }
            case .message(let m):
                switch m.message {
                case .started(let s) where s.rank.job == job.id:
                    try store.recordRankStarted(attempt: attemptID, rank: s.rank.rank, pid: s.pid, at: Date())
                case .exited(let e) where e.rank.job == job.id:
                    gone.insert(e.rank.rank)
                    try store.recordRankExited(attempt: attemptID, rank: e.rank.rank, status: e.status,
                                               signal: e.signal, at: Date())
                    if !e.succeeded {
                        let how = e.error ?? e.signal.map { "killed by signal \($0)" } ?? "exit status \(e.status ?? -1)"
                        fail("rank \(e.rank.rank) on \(m.node): \(how)")
                    }
                case .log(let batch) where batch.rank.job == job.id:
                    for line in batch.lines { output("[rank \(batch.rank.rank)] \(line)") }
                    if batch.droppedBytes > 0 { output("[rank \(batch.rank.rank)] (\(batch.droppedBytes) bytes not streamed; see the log file)") }
                case .progress(let p) where p.rank.job == job.id && p.rank.rank == lossReporter:
                    if let s = p.step { step = s }
                    if p.metric == "loss", let value = p.value, step % 10 == 0 {
                        output(String(format: "step %d loss %.4f", step, value))
                    }
                case .checkpoint(let c) where c.rank.job == job.id:
                    if let step = commits.report(rank: c.rank.rank, step: c.step), let layout,
                       let keep = spec.checkpoint?.keep {
                        try CommitMarker.write(layout, step: step, worldSize: placement.worldSize, at: Date())
                        try store.commitCheckpoint(job: job.id, attempt: attemptID, step: step,
                                                   dir: layout.stepDirectory(step), at: Date())
                        let pruned = CommitMarker.prune(layout, keep: keep)
                        output("checkpoint step \(step) committed" + (pruned.isEmpty ? "" : "; pruned \(pruned)"))
                    }
                default:
                    break
                }
            }
        }
        if let failure {
            try store.finishAttempt(attemptID, as: .failed, reason: failure, at: Date())
            try store.setJobState(job.id, to: .failed, reason: failure, at: Date())
            return .failed(failure)
        }
        try store.finishAttempt(attemptID, as: .succeeded, reason: "every rank exited 0", at: Date())
        try store.setJobState(job.id, to: .succeeded, reason: nil, at: Date())
        return .succeeded
    }

    /// PATH with Ringmaster's own executables first, plus HOME and LANG from the controller.
    private func baseEnvironment() -> [String: String] {
        let env = ProcessInfo.processInfo.environment
        var base: [String: String] = ["PATH": options.binDirectory + ":" + (env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")]
        for key in ["HOME", "LANG", "USER", "TMPDIR"] { if let v = env[key] { base[key] = v } }
        return base
    }
}
