import AgentProtocol

/// How much output may be queued for the controller. The shell reports what it has not written yet; the core
/// adds an estimate of what it sent since that report.
///
/// - Log batches wait (and their batchers drop and count) while the reported backlog is at `softLimit` or more,
///   so a slow controller gets fewer, denser batches; a final batch (the rank exited) never waits.
/// - Droppable messages (log batches, progress, heartbeats) are dropped while the backlog, with what was sent
///   since the report, is past `hardLimit`. Everything else (started, exited, checkpoint, section, error,
///   ping answers) is always sent.
public struct OutputBudget: Hashable, Sendable {
    public let softLimit: Int
    public let hardLimit: Int
    /// Bytes queued and unwritten, as the shell last reported.
    public private(set) var reported = 0
    /// Estimated bytes of the messages sent since that report.
    public private(set) var sentSinceReport = 0

    public init(softLimit: Int, hardLimit: Int) {
        self.softLimit = softLimit
        self.hardLimit = hardLimit
    }

    public mutating func report(backlog bytes: Int) {
        reported = bytes
        sentSinceReport = 0
    }

    public var logsMayFlush: Bool { reported < softLimit }

    /// Whether a message of about `bytes` may go; when it may, it is counted.
    public mutating func admit(droppable: Bool, bytes: Int) -> Bool {
        if droppable, reported + sentSinceReport > hardLimit { return false }
        sentSinceReport += bytes
        return true
    }
}

/// Rough sizes of encoded messages, for the budget (JSON keys and the rank reference included).
enum WireEstimate {
    static func bytes(of message: AgentMessage) -> Int {
        switch message {
        case .log(let batch): 160 + batch.lines.reduce(0) { $0 + $1.utf8.count + 3 }
        case .hello(let hello): 512 + hello.accelerators.count * 256
        case .steps(let batch): 96 + batch.ranks.count * 16
        default: 192
        }
    }

    static func bytes(of plan: HeartbeatPlan) -> Int { 320 + plan.ranks.count * 120 }
}
