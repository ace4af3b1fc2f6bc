import Foundation
import RingmasterModel

/// `POST /v1/jobs`: the manifest's YAML text and the path it was read from (for error messages and
/// to resolve its relative paths; the CLI and the controller share a filesystem).
public struct SubmitRequest: Codable, Sendable {
    public var manifest: String
    public var path: String
    public init(manifest: String, path: String) {
        self.manifest = manifest
        self.path = path
    }
}

/// One job as `jobs` and `status` show it.
public struct JobView: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var state: JobState
    /// Why it is in that state: the pending reason, the failure cause.
    public var reason: String?
    public var submittedAt: Date
    public var updatedAt: Date
    public var restarts: Int
    public var data: Int
    public var pipeline: Int
    public var tensor: Int
    public var worldSize: Int
    public var command: [String]
    /// The newest attempt's number, if any.
    public var attempt: Int?
    /// Newest step reported by the job's progress rank.
    public var step: Int?
    /// Newest committed checkpoint step.
    public var checkpoint: Int?
    /// Goodput so far: the newest step × the fastest attempt's seconds per step ÷ the time since the first
    /// attempt started (an estimate of the effective training time ratio); nil before any progress.
    public var goodput: Double?
    /// The job's own checkpoint folder, `<checkpoint.dir>/<id>.<uid>` (unique across controllers).
    public var checkpointDir: String?

    public init(id: String, name: String, state: JobState, reason: String?, submittedAt: Date, updatedAt: Date,
                restarts: Int, data: Int, pipeline: Int, tensor: Int, worldSize: Int, command: [String],
                attempt: Int?, step: Int?, checkpoint: Int?, goodput: Double? = nil, checkpointDir: String? = nil) {
        self.id = id
        self.name = name
        self.state = state
        self.reason = reason
        self.submittedAt = submittedAt
        self.updatedAt = updatedAt
        self.restarts = restarts
        self.data = data
        self.pipeline = pipeline
        self.tensor = tensor
        self.worldSize = worldSize
        self.command = command
        self.attempt = attempt
        self.step = step
        self.checkpoint = checkpoint
        self.goodput = goodput
        self.checkpointDir = checkpointDir
    }
}

/// One attempt of a job.
public struct AttemptView: Codable, Sendable, Equatable {
    public var number: Int
    public var state: AttemptState
    public var startedAt: Date
    public var endedAt: Date?
    public var endReason: String?
    public var resumeStep: Int?
    public var nodes: [String]

    public init(number: Int, state: AttemptState, startedAt: Date, endedAt: Date?, endReason: String?,
                resumeStep: Int?, nodes: [String]) {
        self.number = number
        self.state = state
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.endReason = endReason
        self.resumeStep = resumeStep
        self.nodes = nodes
    }
}

/// One rank of an attempt, with its coordinates in the 3-D layout.
public struct RankView: Codable, Sendable, Equatable {
    public var rank: Int
    public var node: String
    public var localRank: Int
    public var tp: Int
    public var pp: Int
    public var dp: Int
    public var state: RankState
    public var pid: Int32?
    public var exitStatus: Int32?
    public var exitSignal: Int32?
    public var lastStep: Int?

    public init(rank: Int, node: String, localRank: Int, tp: Int, pp: Int, dp: Int, state: RankState, pid: Int32?,
                exitStatus: Int32?, exitSignal: Int32?, lastStep: Int?) {
        self.rank = rank
        self.node = node
        self.localRank = localRank
        self.tp = tp
        self.pp = pp
        self.dp = dp
        self.state = state
        self.pid = pid
        self.exitStatus = exitStatus
        self.exitSignal = exitSignal
        self.lastStep = lastStep
    }
}

/// `GET /v1/jobs/{id}`: the job, its attempts (oldest first) and the newest attempt's ranks.
public struct JobDetail: Codable, Sendable {
    public var job: JobView
    public var attempts: [AttemptView]
    /// The newest attempt's first ranks (`?ranks=N`, 256 unless asked): `GET /v1/jobs/{id}/ranks` pages through all.
    public var ranks: [RankView]
    /// How many ranks the newest attempt has.
    public var rankCount: Int
    public init(job: JobView, attempts: [AttemptView], ranks: [RankView], rankCount: Int) {
        self.job = job
        self.attempts = attempts
        self.ranks = ranks
        self.rankCount = rankCount
    }
}

/// One node as the controller sees it now.
public struct NodeView: Codable, Sendable, Equatable {
    public var id: String
    public var host: String
    public var spare: Bool
    public var state: NodeState
    public var reason: String?
    public var since: Date
    public var accelerators: [Accelerator]
    public var cpus: Int?
    public var memoryBytes: UInt64?
    /// Ranks of running attempts placed here.
    public var ranks: Int
    /// The agent's pid on its host, from its `hello`.
    public var agentPID: Int32?
    /// Interpreters waiting for a launch (`warm:`), from the agent's last heartbeat; nil when it keeps no pool.
    public var warmInterpreters: Int?

    public init(id: String, host: String, spare: Bool, state: NodeState, reason: String?, since: Date,
                accelerators: [Accelerator], cpus: Int?, memoryBytes: UInt64?, ranks: Int, agentPID: Int32? = nil,
                warmInterpreters: Int? = nil) {
        self.warmInterpreters = warmInterpreters
        self.id = id
        self.host = host
        self.spare = spare
        self.state = state
        self.reason = reason
        self.since = since
        self.accelerators = accelerators
        self.cpus = cpus
        self.memoryBytes = memoryBytes
        self.ranks = ranks
        self.agentPID = agentPID
    }
}

/// One event row.
public struct EventView: Codable, Sendable, Equatable {
    public var id: Int64
    public var time: Date
    public var kind: String
    public var job: String?
    public var attempt: Int64?
    public var node: String?
    public var rank: Int?
    public var message: String
    /// Structured detail as JSON text (`job.state`: `{"from": …, "to": …}`).
    public var payload: String?

    public init(id: Int64, time: Date, kind: String, job: String?, attempt: Int64?, node: String?, rank: Int?,
                message: String, payload: String? = nil) {
        self.id = id
        self.time = time
        self.kind = kind
        self.job = job
        self.attempt = attempt
        self.node = node
        self.rank = rank
        self.message = message
        self.payload = payload
    }

    /// For `job.state` events: the state the job moved to.
    public var jobStateTo: JobState? {
        guard kind == "job.state", let payload,
              let map = try? JSONDecoder().decode([String: String].self, from: Data(payload.utf8)) else { return nil }
        return map["to"].flatMap(JobState.init(rawValue:))
    }
}

/// Every non-2xx response's body: what went wrong, each detail line (every manifest error as the
/// validator wrote it), and what to do next.
public struct APIErrorBody: Codable, Sendable, Error, CustomStringConvertible {
    public var error: String
    public var details: [String]
    public var hint: String?

    public init(error: String, details: [String] = [], hint: String? = nil) {
        self.error = error
        self.details = details
        self.hint = hint
    }

    public var description: String {
        ([error] + details).joined(separator: "\n") + (hint.map { "\nhint: \($0)" } ?? "")
    }
}

/// `/healthz` and `controller.json`: who is serving.
public struct ControllerInfo: Codable, Sendable {
    public var pid: Int32
    public var url: String
    public var cluster: String
    public var startedAt: Date
    public init(pid: Int32, url: String, cluster: String, startedAt: Date) {
        self.pid = pid
        self.url = url
        self.cluster = cluster
        self.startedAt = startedAt
    }
}

/// `POST /v1/jobs/{id}/chaos`: a failure to inject into a running job.
public struct ChaosRequest: Codable, Sendable {
    public enum Action: String, Codable, Sendable, CaseIterable {
        /// SIGKILL one rank.
        case killRank = "kill-rank"
        /// SIGSTOP one rank: it stops reporting steps (a hang).
        case hangRank = "hang-rank"
        /// Kill a node's agent and every rank on it (local clusters; on the namespace cluster the CLI
        /// kills everything in the host's namespace instead).
        case killNode = "kill-node"
        /// SIGSTOP a node's agent: its heartbeats stop.
        case stopAgent = "stop-agent"
        /// Cut a set of nodes off from the controller for `seconds` (simulated clusters).
        case partition

        /// The kinds `mixed` picks from: each hits one rank or node.
        public static let mixable: [Action] = [.killRank, .hangRank, .killNode, .stopAgent]
    }

    public var action: Action
    public var rank: Int?
    public var node: String?
    /// `partition`: the nodes cut off (else `node`, else one picked).
    public var nodes: [String]?
    /// `partition`: how long.
    public var seconds: Double?
    /// Picks the rank or node when not given.
    public var seed: UInt64?
    /// The client already did it (kill-node on a namespace host): only record the injection.
    public var external: Bool?

    public init(action: Action, rank: Int? = nil, node: String? = nil, seed: UInt64? = nil, external: Bool? = nil,
                nodes: [String]? = nil, seconds: Double? = nil) {
        self.action = action
        self.rank = rank
        self.node = node
        self.seed = seed
        self.external = external
        self.nodes = nodes
        self.seconds = seconds
    }
}

/// What a chaos request did.
public struct ChaosReport: Codable, Sendable {
    public var action: ChaosRequest.Action
    public var node: String
    public var rank: Int?
    public var at: Date
    public var message: String
    public init(action: ChaosRequest.Action, node: String, rank: Int?, at: Date, message: String) {
        self.action = action
        self.node = node
        self.rank = rank
        self.at = at
        self.message = message
    }
}

/// One point of a metric series: the mean of `count` samples, their range, the newest one's step and time.
public struct SeriesPointView: Codable, Sendable, Equatable {
    public var step: Int?
    public var time: Date
    public var value: Double
    public var min: Double
    public var max: Double
    public var count: Int

    public init(step: Int?, time: Date, value: Double, min: Double, max: Double, count: Int) {
        self.step = step
        self.time = time
        self.value = value
        self.min = min
        self.max = max
        self.count = count
    }
}

/// `GET /v1/jobs/{id}/series?metric=M&points=N`: a job's metric series downsampled to at most N points,
/// oldest first, and the names of every series the job has (`loss`, `steps_per_second`, …).
public struct SeriesView: Codable, Sendable, Equatable {
    public var job: String
    public var metric: String
    public var metrics: [String]
    /// Samples the controller averaged into each stored point (1 until the series outgrew its capacity).
    public var width: Int?
    public var points: [SeriesPointView]

    public init(job: String, metric: String, metrics: [String], width: Int?, points: [SeriesPointView]) {
        self.job = job
        self.metric = metric
        self.metrics = metrics
        self.width = width
        self.points = points
    }
}

/// A one-line chart of a series in block characters (`ringmaster status`): each column is the mean of
/// its share of the values, scaled between their minimum and maximum.
public enum Sparkline {
    static let blocks: [Character] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]

    public static func render(_ values: [Double], width: Int = 40) -> String {
        let values = values.filter(\.isFinite)
        guard !values.isEmpty, width > 0 else { return "" }
        let columns = Swift.min(width, values.count)
        let means: [Double] = (0..<columns).map { c in
            let from = c * values.count / columns
            let to = Swift.max(from + 1, (c + 1) * values.count / columns)
            return values[from..<to].reduce(0, +) / Double(to - from)
        }
        let lo = means.min()!, hi = means.max()!
        guard hi > lo else { return String(repeating: blocks[3], count: columns) }
        return String(means.map { v in blocks[Swift.min(7, Int(((v - lo) / (hi - lo) * 8).rounded(.down)))] })
    }
}

/// One phase of a failure's recovery: its name, when it started and how long it took.
public struct FailurePhase: Codable, Sendable, Equatable {
    /// `detection` (injection → detection, injected failures only), `teardown`, `decision`, `backoff`,
    /// `relaunch`, `first-step` (rendezvous + restore + first step).
    public var name: String
    public var start: Date
    public var seconds: Double

    public init(name: String, start: Date, seconds: Double) {
        self.name = name
        self.start = start
        self.seconds = seconds
    }
}

/// One failure of a job, read back from its events: what failed where, and each recovery phase.
public struct FailureView: Codable, Sendable, Equatable {
    public var job: String
    /// The attempt that failed.
    public var attempt: Int?
    public var kind: String
    public var node: String?
    public var rank: Int?
    public var detectedAt: Date
    /// The failure.detected message (cause; the failing rank's last lines are also in `lastLines`).
    public var message: String
    public var step: Int?
    public var exitStatus: Int?
    public var signal: Int?
    public var injected: String?
    public var injectedAt: Date?
    /// Injection → detection, for injected failures.
    public var detectionSeconds: Double?
    public var lastLines: [String]
    public var decision: String?
    /// Detection → the new attempt's first step, once recovered.
    public var recoverySeconds: Double?
    public var lostSteps: Int?
    public var resumeStep: Int?
    /// `recovering`, `recovered`, or how the job ended instead (`failed`, `cancelled`), or `superseded`
    /// (a newer failure came first).
    public var outcome: String
    public var phases: [FailurePhase]
    /// Event ids of the failure.detected row and of the rows that describe its recovery.
    public var events: [Int64]

    public init(job: String, attempt: Int?, kind: String, node: String?, rank: Int?, detectedAt: Date, message: String,
                step: Int?, exitStatus: Int?, signal: Int?, injected: String?, injectedAt: Date?, detectionSeconds: Double?,
                lastLines: [String], decision: String?, recoverySeconds: Double?, lostSteps: Int?, resumeStep: Int?,
                outcome: String, phases: [FailurePhase], events: [Int64]) {
        self.job = job
        self.attempt = attempt
        self.kind = kind
        self.node = node
        self.rank = rank
        self.detectedAt = detectedAt
        self.message = message
        self.step = step
        self.exitStatus = exitStatus
        self.signal = signal
        self.injected = injected
        self.injectedAt = injectedAt
        self.detectionSeconds = detectionSeconds
        self.lastLines = lastLines
        self.decision = decision
        self.recoverySeconds = recoverySeconds
        self.lostSteps = lostSteps
        self.resumeStep = resumeStep
        self.outcome = outcome
        self.phases = phases
        self.events = events
    }
}

/// `GET /v1/failures?job=J`: every failure (oldest first), counts per node and per kind, and the cluster's
/// observed mean time between failures beside the capacity planner's model for its accelerators.
public struct FailuresView: Codable, Sendable, Equatable {
    public var failures: [FailureView]
    public var byNode: [String: Int]
    public var byKind: [String: Int]
    /// Seconds from the first event to now, over the number of failures (nil without failures).
    public var observedMTBFSeconds: Double?
    /// The planner's default per-accelerator MTBF (50,000 h) over the cluster's accelerators.
    public var plannerMTBFSeconds: Double?
    public var accelerators: Int
    /// Seconds the events cover (first event → now).
    public var windowSeconds: Double

    public init(failures: [FailureView], byNode: [String: Int], byKind: [String: Int], observedMTBFSeconds: Double?,
                plannerMTBFSeconds: Double?, accelerators: Int, windowSeconds: Double) {
        self.failures = failures
        self.byNode = byNode
        self.byKind = byKind
        self.observedMTBFSeconds = observedMTBFSeconds
        self.plannerMTBFSeconds = plannerMTBFSeconds
        self.accelerators = accelerators
        self.windowSeconds = windowSeconds
    }
}

/// `POST /v1/console/login`: a one-time URL that opens the console (it exchanges for a session cookie).
public struct ConsoleLogin: Codable, Sendable, Equatable {
    public var url: String
    public var expiresAt: Date
    public init(url: String, expiresAt: Date) {
        self.url = url
        self.expiresAt = expiresAt
    }
}
