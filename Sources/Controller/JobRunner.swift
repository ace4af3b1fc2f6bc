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
    let inbox = RunnerInbox()
    let clock: any RunnerClock
    let random: RunnerRandom
    /// Checkpoint pruning, off the loop's thread.
    let disk = DispatchQueue(label: "ringmaster.checkpoint-pruning")
    let live = Mutex<[JobID: LiveProgress]>([:])
    /// Placements of the active attempts, for readers outside the loop.
    let placements = Mutex<[JobID: Placement]>([:])
    let stopped = Mutex(false)

    public init(store: RingmasterStore, nodes: NodeManager, options: JobRunnerOptions, metrics: ControllerMetrics? = nil,
                clock: any RunnerClock = SystemRunnerClock(), random: RunnerRandom = .system,
                note: @escaping @Sendable (RunnerNote) -> Void = { _ in }) {
        self.clock = clock
        self.random = random
        self.store = store
        self.nodes = nodes
        self.options = options
        self.logs = LogBook(directory: options.stateDirectory)
        self.metrics = metrics
        self.note = note
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
                                      uid: uid, reason: "waiting for placement", at: clock.now().wall)
        inbox.post(.submitted(job))
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
            inbox.post(.cancel(id, continuation))
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

    /// Releases a quarantined node.
    public func release(_ node: NodeID) async -> Result<String, APIErrorBody> {
        await withCheckedContinuation { inbox.post(.release(node, $0)) }
    }

    /// Injects a failure into a running job.
    public func chaos(_ job: JobID, _ request: ChaosRequest) async -> Result<ChaosReport, APIErrorBody> {
        await withCheckedContinuation { inbox.post(.chaos(job, request, $0)) }
    }

    /// Stop every attempt and end `run()` (what SIGTERM does through the service group).
    public func requestShutdown() { inbox.post(.shutdown) }

    /// The node source's time limit is near on `nodes`: their attempts checkpoint now and move.
    public func timeLimitApproaching(_ nodes: [NodeID], cause: String) { inbox.post(.timeLimit(nodes, cause: cause)) }

    /// The loop runs on a thread of its own (its store writes and file work never block the cooperative
    /// pool); node events and agent messages are forwarded to it from two tasks.
    public func run() async throws {
        let events = Task { [nodes, inbox] in
            for await e in nodes.events { inbox.post(.node(e)) }
        }
        let messages = Task { [nodes, inbox] in
            for await m in nodes.messages { inbox.post(.message(m)) }
        }
        defer {
            events.cancel()
            messages.cancel()
            logs.close()
        }
        await withGracefulShutdownHandler {
            await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
                let thread = Thread { [self] in
                    RunnerLoop(runner: self).run()
                    stopped.withLock { $0 = true }
                    // Requests that arrive too late are answered "shutting down".
                    inbox.close()
                    finished.resume()
                }
                thread.name = "runner loop"
                thread.stackSize = 8 << 20
                thread.start()
            }
        } onGracefulShutdown: { [inbox] in
            inbox.post(.shutdown)
        }
    }
}
