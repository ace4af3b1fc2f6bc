#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import RingmasterModel

/// Version of the controller ↔ agent protocol; the agent's `hello` carries it first.
public enum AgentProtocolVersion {
    public static let current = 1
}

// MARK: - Controller → agent

/// Spawn one rank process in its own process group.
public struct LaunchRequest: Hashable, Codable, Sendable {
    public var rank: RankRef
    public var argv: [String]
    /// The complete environment of the rank (the agent adds `RINGMASTER_CONTROL`).
    public var env: [String: String]
    public var cwd: String?
    /// Directory of the per-rank log files on the node (`rank-R.stdout`, `rank-R.stderr`).
    public var logDir: String
    /// Each log file stops growing past this many bytes (the stream still reaches the controller).
    public var maxLogFileBytes: UInt64?
    /// Run the rank in a pre-started interpreter of this kind when the node has one ready (`argv` is then
    /// `python OPTIONS PROGRAM…` with `spec.options` as its options); otherwise start `argv` as always.
    public var warm: WarmSpec?

    public init(
        rank: RankRef, argv: [String], env: [String: String] = [:], cwd: String? = nil, logDir: String,
        maxLogFileBytes: UInt64? = nil, warm: WarmSpec? = nil
    ) {
        self.rank = rank
        self.argv = argv
        self.env = env
        self.cwd = cwd
        self.logDir = logDir
        self.maxLogFileBytes = maxLogFileBytes
        self.warm = warm
    }
}

/// Send a signal to one rank's process group, or to every rank's (`rank == nil`), escalating to SIGKILL
/// after `graceMilliseconds` when given.
public struct SignalRequest: Hashable, Codable, Sendable {
    public var rank: RankRef?
    public var signal: Int32
    public var graceMilliseconds: Int?

    public init(rank: RankRef?, signal: Int32, graceMilliseconds: Int? = nil) {
        self.rank = rank
        self.signal = signal
        self.graceMilliseconds = graceMilliseconds
    }
}

/// Asks for an immediate heartbeat carrying `id`.
public struct Ping: Hashable, Codable, Sendable {
    public var id: UInt64
    public init(id: UInt64) { self.id = id }
}

/// Asks one rank to write a checkpoint of `step` (the agent relays `checkpoint-now STEP` to the rank's
/// report socket): the controller's answer to a Slurm time limit. A rank that ignores it loses nothing
/// but the request.
public struct CheckpointNowRequest: Hashable, Codable, Sendable {
    public var rank: RankRef
    public var step: Int

    public init(rank: RankRef, step: Int) {
        self.rank = rank
        self.step = step
    }
}

public enum ControllerMessage: Hashable, Sendable {
    case launch(LaunchRequest)
    case signal(SignalRequest)
    case ping(Ping)
    case checkpointNow(CheckpointNowRequest)
    case warmPool(WarmPoolRequest)
    case abandon(AbandonRequest)
    case rejoin(RejoinRequest)
}

// MARK: - Agent → controller

/// Facts about the host the agent runs on.
public struct HostFacts: Hashable, Codable, Sendable {
    public var hostname: String
    /// e.g. "Debian GNU/Linux 12 (bookworm)".
    public var os: String
    /// e.g. "6.1.0-18-amd64".
    public var kernel: String
    public var cpuModel: String
    public var cpuCount: Int
    public var memoryBytes: UInt64

    public init(hostname: String, os: String, kernel: String, cpuModel: String, cpuCount: Int, memoryBytes: UInt64) {
        self.hostname = hostname
        self.os = os
        self.kernel = kernel
        self.cpuModel = cpuModel
        self.cpuCount = cpuCount
        self.memoryBytes = memoryBytes
    }
}

/// First message of every agent: who it is and what the host has.
public struct Hello: Hashable, Codable, Sendable {
    public var protocolVersion: Int
    /// SHA-256 (hex) of the agent's own executable file.
    public var buildHash: String
    public var agentPID: Int32
    public var host: HostFacts
    public var accelerators: [Accelerator]
    /// Discovery problems that did not stop the agent (a tool's malformed output, …).
    public var warnings: [String]

    public init(
        protocolVersion: Int = AgentProtocolVersion.current, buildHash: String, agentPID: Int32, host: HostFacts,
        accelerators: [Accelerator], warnings: [String] = []
    ) {
        self.protocolVersion = protocolVersion
        self.buildHash = buildHash
        self.agentPID = agentPID
        self.host = host
        self.accelerators = accelerators
        self.warnings = warnings
    }
}

/// Host load at heartbeat time.
public struct HostLoad: Hashable, Codable, Sendable {
    /// Fraction (0…1) of all CPUs busy since the previous heartbeat.
    public var cpuBusy: Double
    public var loadAverage1m: Double
    public var memoryUsedBytes: UInt64
    public var memoryTotalBytes: UInt64

    public init(cpuBusy: Double, loadAverage1m: Double, memoryUsedBytes: UInt64, memoryTotalBytes: UInt64) {
        self.cpuBusy = cpuBusy
        self.loadAverage1m = loadAverage1m
        self.memoryUsedBytes = memoryUsedBytes
        self.memoryTotalBytes = memoryTotalBytes
    }
}

/// Resident memory of one rank's process group.
public struct RankUsage: Hashable, Codable, Sendable {
    public var rank: RankRef
    public var pid: Int32
    public var rssBytes: UInt64

    public init(rank: RankRef, pid: Int32, rssBytes: UInt64) {
        self.rank = rank
        self.pid = pid
        self.rssBytes = rssBytes
    }
}

public struct Heartbeat: Hashable, Codable, Sendable {
    public var sequence: UInt64
    public var load: HostLoad
    public var ranks: [RankUsage]
    /// Resident memory of the agent itself.
    public var agentRSSBytes: UInt64
    /// Rank reports dropped as malformed since the agent started.
    public var malformedReports: UInt64
    /// Set when this heartbeat answers a `ping`.
    public var ping: UInt64?
    /// Interpreters waiting for a launch (`warm:`), when the agent keeps any pool.
    public var warmInterpreters: Int?

    public init(
        sequence: UInt64, load: HostLoad, ranks: [RankUsage], agentRSSBytes: UInt64, malformedReports: UInt64,
        ping: UInt64? = nil, warmInterpreters: Int? = nil
    ) {
        self.warmInterpreters = warmInterpreters
        self.sequence = sequence
        self.load = load
        self.ranks = ranks
        self.agentRSSBytes = agentRSSBytes
        self.malformedReports = malformedReports
        self.ping = ping
    }
}

public struct RankStarted: Hashable, Codable, Sendable {
    public var rank: RankRef
    public var pid: Int32
    public init(rank: RankRef, pid: Int32) {
        self.rank = rank
        self.pid = pid
    }
}

/// A rank process is gone: `status` for a normal exit, `signal` when killed, `error` when it never ran.
public struct RankExited: Hashable, Codable, Sendable {
    public var rank: RankRef
    public var status: Int32?
    public var signal: Int32?
    public var error: String?

    public init(rank: RankRef, status: Int32? = nil, signal: Int32? = nil, error: String? = nil) {
        self.rank = rank
        self.status = status
        self.signal = signal
        self.error = error
    }

    public var succeeded: Bool { status == 0 && signal == nil && error == nil }
}

public enum LogStream: String, Hashable, Codable, Sendable {
    case stdout, stderr
}

/// Batched output lines of one stream of one rank. `droppedBytes` counts output that was not forwarded
/// (bounded buffers) since the previous batch; the node's log file still has it.
public struct LogBatch: Hashable, Codable, Sendable {
    public var rank: RankRef
    public var stream: LogStream
    public var lines: [String]
    public var droppedBytes: UInt64

    public init(rank: RankRef, stream: LogStream, lines: [String], droppedBytes: UInt64 = 0) {
        self.rank = rank
        self.stream = stream
        self.lines = lines
        self.droppedBytes = droppedBytes
    }
}

/// A `step N` or `metric NAME VALUE` report of a rank.
public struct RankProgress: Hashable, Codable, Sendable {
    public var rank: RankRef
    public var step: Int?
    public var metric: String?
    public var value: Double?

    public init(rank: RankRef, step: Int? = nil, metric: String? = nil, value: Double? = nil) {
        self.rank = rank
        self.step = step
        self.metric = metric
        self.value = value
    }
}

/// `checkpoint N`: this rank's shard of step N is durable; or `checkpoint-failed N REASON` (`failure` set):
/// it could not be written, and the step is never committed.
public struct CheckpointReport: Hashable, Codable, Sendable {
    public var rank: RankRef
    public var step: Int
    public var failure: String?
    public init(rank: RankRef, step: Int, failure: String? = nil) {
        self.rank = rank
        self.step = step
        self.failure = failure
    }
}

/// `section NAME SECONDS` (name and seconds set) or `section end` (both nil): while a section is open the
/// rank may be silent up to its seconds without being taken for hung.
public struct SectionReport: Hashable, Codable, Sendable {
    public var rank: RankRef
    public var name: String?
    public var seconds: Double?
    public init(rank: RankRef, name: String?, seconds: Double?) {
        self.rank = rank
        self.name = name
        self.seconds = seconds
    }
}

/// Several ranks' `step N` reports in one message, which an agent sends instead of one `progress` each when
/// its controller asks it to hold step reports (`--report-batch-ms`, the inventory's `heartbeat.reportBatch`):
/// `ranks[i]` of attempt `attempt` of `job` reached `steps[i]`. A large cluster's controller reads one message
/// per node and window instead of one per rank and step.
public struct StepBatch: Hashable, Codable, Sendable {
    public var job: JobID
    public var attempt: Int
    public var ranks: [Int]
    public var steps: [Int]

    public init(job: JobID, attempt: Int, ranks: [Int], steps: [Int]) {
        self.job = job
        self.attempt = attempt
        self.ranks = ranks
        self.steps = steps
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        job = try c.decode(JobID.self, forKey: .job)
        attempt = try c.decode(Int.self, forKey: .attempt)
        ranks = try c.decode([Int].self, forKey: .ranks)
        steps = try c.decode([Int].self, forKey: .steps)
        guard ranks.count == steps.count else {
            throw DecodingError.dataCorruptedError(
                forKey: .steps, in: c, debugDescription: "\(ranks.count) ranks but \(steps.count) steps")
        }
    }

    /// Each report as the `progress` it stands for, in order.
    public var reports: [RankProgress] {
        zip(ranks, steps).map { RankProgress(rank: RankRef(job: job, attempt: attempt, rank: $0), step: $1) }
    }
}

/// The other side broke the protocol; the connection ends after this.
public struct ProtocolErrorReport: Hashable, Codable, Sendable {
    public var message: String
    public init(message: String) { self.message = message }
}

public enum AgentMessage: Hashable, Sendable {
    case hello(Hello)
    case heartbeat(Heartbeat)
    case started(RankStarted)
    case exited(RankExited)
    case log(LogBatch)
    case progress(RankProgress)
    case steps(StepBatch)
    case checkpoint(CheckpointReport)
    case section(SectionReport)
    case held(RankHeld)
    case error(ProtocolErrorReport)

    public var typeName: String {
        switch self {
        case .hello: "hello"
        case .heartbeat: "heartbeat"
        case .started: "started"
        case .exited: "exited"
        case .log: "log"
        case .progress: "progress"
        case .steps: "steps"
        case .checkpoint: "checkpoint"
        case .section: "section"
        case .held: "held"
        case .error: "error"
        }
    }
}

// MARK: - Codable: `{"type": "...", ...payload fields}`

private enum TypeKey: String, CodingKey {
    case type
}

extension ControllerMessage: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: TypeKey.self)
        let type = try c.decode(String.self, forKey: .type)
        switch type {
        case "launch": self = .launch(try LaunchRequest(from: decoder))
        case "signal": self = .signal(try SignalRequest(from: decoder))
        case "ping": self = .ping(try Ping(from: decoder))
        case "checkpoint-now": self = .checkpointNow(try CheckpointNowRequest(from: decoder))
        case "warm-pool": self = .warmPool(try WarmPoolRequest(from: decoder))
        case "abandon": self = .abandon(try AbandonRequest(from: decoder))
        case "rejoin": self = .rejoin(try RejoinRequest(from: decoder))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: c, debugDescription: "unknown controller message type '\(type)'")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: TypeKey.self)
        switch self {
        case .launch(let m):
            try c.encode("launch", forKey: .type)
            try m.encode(to: encoder)
        case .signal(let m):
            try c.encode("signal", forKey: .type)
            try m.encode(to: encoder)
        case .ping(let m):
            try c.encode("ping", forKey: .type)
            try m.encode(to: encoder)
        case .checkpointNow(let m):
            try c.encode("checkpoint-now", forKey: .type)
            try m.encode(to: encoder)
        case .warmPool(let m):
            try c.encode("warm-pool", forKey: .type)
            try m.encode(to: encoder)
        case .abandon(let m):
            try c.encode("abandon", forKey: .type)
            try m.encode(to: encoder)
        case .rejoin(let m):
            try c.encode("rejoin", forKey: .type)
            try m.encode(to: encoder)
        }
    }
}

extension AgentMessage: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: TypeKey.self)
        let type = try c.decode(String.self, forKey: .type)
        switch type {
        case "hello": self = .hello(try Hello(from: decoder))
        case "heartbeat": self = .heartbeat(try Heartbeat(from: decoder))
        case "started": self = .started(try RankStarted(from: decoder))
        case "exited": self = .exited(try RankExited(from: decoder))
        case "log": self = .log(try LogBatch(from: decoder))
        case "progress": self = .progress(try RankProgress(from: decoder))
        case "steps": self = .steps(try StepBatch(from: decoder))
        case "checkpoint": self = .checkpoint(try CheckpointReport(from: decoder))
        case "section": self = .section(try SectionReport(from: decoder))
        case "held": self = .held(try RankHeld(from: decoder))
        case "error": self = .error(try ProtocolErrorReport(from: decoder))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: c, debugDescription: "unknown agent message type '\(type)'")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: TypeKey.self)
        try c.encode(typeName, forKey: .type)
        switch self {
        case .hello(let m): try m.encode(to: encoder)
        case .heartbeat(let m): try m.encode(to: encoder)
        case .started(let m): try m.encode(to: encoder)
        case .exited(let m): try m.encode(to: encoder)
        case .log(let m): try m.encode(to: encoder)
        case .progress(let m): try m.encode(to: encoder)
        case .steps(let m): try m.encode(to: encoder)
        case .checkpoint(let m): try m.encode(to: encoder)
        case .section(let m): try m.encode(to: encoder)
        case .held(let m): try m.encode(to: encoder)
        case .error(let m): try m.encode(to: encoder)
        }
    }
}
