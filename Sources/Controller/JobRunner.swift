import ControllerAPI
import Foundation
import JobManifest
import NodeManager
import Planning
import RingmasterModel
import ServiceLifecycle
import StateStore
import Synchronization

/// Live numbers of a running job the store only has in batches.
public struct LiveProgress: Sendable, Equatable {
    public var attempt: Int
    public var step: Int?
    public var stepsPerSecond: Double
}

/// Runs jobs on the node manager's ready nodes: places pending jobs, persists attempts, hosts each
/// attempt's rendezvous, launches ranks with the rank environment, follows their starts, exits, logs,
/// progress and checkpoints, commits checkpoints, and ends attempts. One loop owns all of that state;
/// the API talks to it through `submit` and `cancel`, and reads the store.
public final class JobRunner: Service, Sendable {
    public let store: RingmasterStore
    let nodes: NodeManager
    let options: JobRunnerOptions
    public let logs: LogBook
    let metrics: ControllerMetrics?
    let note: @Sendable (RunnerNote) -> Void
    let inbox: AsyncStream<RunnerInput>
    let feed: AsyncStream<RunnerInput>.Continuation
    let live = Mutex<[JobID: LiveProgress]>([:])
    /// Placements of the active attempts, for readers outside the loop.
    let placements = Mutex<[JobID: Placement]>([:])
    let stopped = Mutex(false)

    public init(store: RingmasterStore, nodes: NodeManager, options: JobRunnerOptions, metrics: ControllerMetrics? = nil,
                note: @escaping @Sendable (RunnerNote) -> Void = { _ in }) {
        self.store = store
        self.nodes = nodes
        self.options = options
        self.logs = LogBook(directory: options.stateDirectory)
        self.metrics = metrics
        self.note = note
        (inbox, feed) = AsyncStream.makeStream(of: RunnerInput.self)
    }

    /// Validated manifest → a `pending` job row (and its event); the loop places it as soon as it can.
    /// Refused (nothing stored) when the job's checkpoint folder already holds steps it did not write, or
    /// its `checkpoint.resumeFrom` is not a committed, verified step (`CheckpointFolder.submitProblems`).
    public func submit(_ manifest: LoadedManifest<JobSpec>) throws -> JobRecord {
        let uid = JobRecord.newUID()
        let identity = JobRecord.identity(id: try store.nextJobID(name: manifest.value.name), uid: uid)
        let problems = CheckpointFolder.submitProblems(manifest, identity: identity)
        guard problems.isEmpty else { throw ManifestErrors(problems) }
        let job = try store.submitJob(manifest.value, manifest: manifest.source, manifestPath: manifest.file,
                                      uid: uid, reason: "waiting for placement", at: Date())
        feed.yield(.submitted(job.id))
        return job
    }

    /// Stops the job's ranks (SIGTERM, SIGKILL after the grace period) and marks it `cancelled`; answers
    /// once its ranks are gone.
    public func cancel(_ id: JobID) async -> Result<JobView, APIErrorBody> {
        await withCheckedContinuation { continuation in
            if stopped.withLock({ $0 }) {
                continuation.resume(returning: .failure(APIErrorBody(error: "the controller is shutting down")))
                return
            }
            feed.yield(.cancel(id, continuation))
        }
    }

    public func progress(of job: JobID) -> LiveProgress? { live.withLock { $0[job] } }

    /// Ranks of active attempts per node.
    public func busyRanks() -> [NodeID: Int] {
        placements.withLock { all in
            var count: [NodeID: Int] = [:]
            for p in all.values { for r in p.ranks { count[r.node, default: 0] += 1 } }
            return count
        }
    }

    /// Why `spec` cannot be placed even on every node of the inventory (nil when it could be, or when some
    /// node's accelerators are not known yet).
    public func neverFits(_ spec: JobSpec) -> PlacementError? {
        let statuses = nodes.statuses()
        let entries = statuses.map { status -> NodeEntry? in
            var entry = status.entry
            if let hello = status.hello { entry.accelerators = hello.accelerators }
            let known = status.hello != nil || nodes.inventory.isLocal || spec.resources.acceleratorsPerRank == 0
            return known ? entry : nil
        }
        guard entries.allSatisfy({ $0 != nil }) else { return nil }
        let slots = entries.compactMap { $0 }.map { NodeSlots(node: $0, resources: spec.resources) }
        do {
            _ = try Placer(job: spec).place(on: slots)
            return nil
        } catch { return error }
    }

    /// Feeds `input` to the loop after `delay` (backoff timers).
    func after(_ delay: Duration, _ input: RunnerInput) {
        Task { [feed] in
            try? await Task.sleep(for: delay)
            feed.yield(input)
        }
    }

    /// Releases a quarantined node.
    public func release(_ node: NodeID) async -> Result<String, APIErrorBody> {
        await withCheckedContinuation { feed.yield(.release(node, $0)) }
    }

    /// Injects a failure into a running job.
    public func chaos(_ job: JobID, _ request: ChaosRequest) async -> Result<ChaosReport, APIErrorBody> {
        await withCheckedContinuation { feed.yield(.chaos(job, request, $0)) }
    }

    /// Stop every attempt and end `run()` (what SIGTERM does through the service group).
    public func requestShutdown() { feed.yield(.shutdown) }

    public func run() async throws {
        let events = Task { [nodes, feed] in
            for await e in nodes.events { feed.yield(.node(e)) }
        }
        let messages = Task { [nodes, feed] in
            for await m in nodes.messages { feed.yield(.message(m)) }
        }
        let ticks = Task { [feed] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(250))
                feed.yield(.tick)
            }
        }
        defer {
            events.cancel()
            messages.cancel()
            ticks.cancel()
            logs.close()
        }
        let loop = RunnerLoop(runner: self)
        loop.resumeAfterRestart()
        await withGracefulShutdownHandler {
            for await input in inbox {
                loop.handle(input)
                if loop.done { break }
            }
        } onGracefulShutdown: { [feed] in
            feed.yield(.shutdown)
        }
        stopped.withLock { $0 = true }
        // Answer requests that arrived too late.
        feed.finish()
        for await input in inbox {
            let down = APIErrorBody(error: "the controller is shutting down")
            switch input {
            case .cancel(_, let reply): reply.resume(returning: .failure(down))
            case .release(_, let reply): reply.resume(returning: .failure(down))
            case .chaos(_, _, let reply): reply.resume(returning: .failure(down))
            default: break
            }
        }
    }
}
