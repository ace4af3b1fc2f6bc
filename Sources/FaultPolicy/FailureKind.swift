import Foundation
import RingmasterModel

/// The design's failure kinds.
public enum FailureKind: String, Hashable, Codable, Sendable, CaseIterable {
    /// A rank exited non-zero or was killed by a signal.
    case rankExit = "rank-exit"
    /// A node's channel errored or closed, or its heartbeats stopped.
    case nodeLost = "node-lost"
    /// A rank that had reported steps reported none for `stallTimeout`.
    case hang
    /// Exec failed, or the same rank failed the same way right after start on two attempts.
    case launchError = "launch-error"
    /// A rank could not verify the checkpoint it resumed from (exit 86).
    case checkpointCorrupt = "checkpoint-corrupt"
}

/// One detected failure: what, where, and when it was seen.
public struct Failure: Hashable, Codable, Sendable, CustomStringConvertible {
    public var kind: FailureKind
    public var node: NodeID?
    public var rank: Int?
    public var exitStatus: Int32?
    public var signal: Int32?
    /// Human cause: "rank 3 on local-1: exit status 3", "node local-2 lost: heartbeats stopped".
    public var cause: String
    public var detectedAt: Instant
    /// For a hang: the timeout that fired and how it was chosen.
    public var timeout: FiredTimeout?

    public init(kind: FailureKind, node: NodeID? = nil, rank: Int? = nil, exitStatus: Int32? = nil, signal: Int32? = nil,
                cause: String, detectedAt: Instant, timeout: FiredTimeout? = nil) {
        self.timeout = timeout
        self.kind = kind
        self.node = node
        self.rank = rank
        self.exitStatus = exitStatus
        self.signal = signal
        self.cause = cause
        self.detectedAt = detectedAt
    }

    public var description: String { "\(kind.rawValue): \(cause)" }
}

/// The hang timeout that fired: its length and why it was that long ("auto: 5 × the longest …").
public struct FiredTimeout: Hashable, Codable, Sendable {
    public var seconds: TimeInterval
    public var why: String

    public init(seconds: TimeInterval, why: String) {
        self.seconds = seconds
        self.why = why
    }
}
