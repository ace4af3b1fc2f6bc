import Foundation
import RingmasterModel

/// Tells a deterministic launch error from bad luck: exec failing, or the same rank failing the same
/// way before the attempt's first step and within `window` of its start, on two attempts (the second on a
/// different node when one could be tried). Kills from outside (SIGKILL, SIGTERM, SIGINT: an operator,
/// the OOM killer, chaos) never count. Restarting those would only loop (cf. 44 restarts on a corrupt checkpoint in Megatron-LM #5281).
public struct LaunchErrorDetector: Sendable {
    public let window: TimeInterval

    /// The previous attempt's quick failure, if its cause was one.
    public struct QuickExit: Hashable, Codable, Sendable {
        public var rank: Int
        public var node: NodeID
        public var status: Int32?
        public var signal: Int32?
        public init(rank: Int, node: NodeID, status: Int32?, signal: Int32?) {
            self.rank = rank
            self.node = node
            self.status = status
            self.signal = signal
        }
    }

    public private(set) var previous: QuickExit?

    public init(window: Duration = .seconds(5), previous: QuickExit? = nil) {
        self.window = window.seconds
        self.previous = previous
    }

    public enum Verdict: Equatable, Sendable {
        /// Not deterministic (yet): recover as usual.
        case transient
        /// A quick exit seen for the first time: recover, on another node if one is free.
        case suspicious(QuickExit)
        /// Fail the job with this cause.
        case deterministic(String)
    }

    /// The attempt's first failing rank exited. `execError` is the agent's spawn error, if any;
    /// `couldMove` says whether the rank could have been placed on another node this time.
    public mutating func causeExited(rank: Int, node: NodeID, status: Int32?, signal: Int32?, execError: String?,
                                     secondsSinceStart: TimeInterval, beforeFirstStep: Bool = true,
                                     couldMove: Bool = false) -> Verdict {
        if let execError { return .deterministic("rank \(rank) on \(node) could not start: \(execError)") }
        let external = signal.map { [9, 15, 2].contains($0) } ?? false
        guard secondsSinceStart <= window, beforeFirstStep, !external else {
            previous = nil
            return .transient
        }
        let exit = QuickExit(rank: rank, node: node, status: status, signal: signal)
        defer { previous = exit }
        if let p = previous, p.rank == rank, p.status == status, p.signal == signal, p.node != node || !couldMove {
            let how = signal.map { "signal \($0)" } ?? "status \(status ?? -1)"
            let nodes = p.node == node ? "on \(node) twice" : "on \(p.node) and then on \(node)"
            return .deterministic(
                "rank \(rank) exited with \(how) within \(Int(window)) s of starting \(nodes): a launch error, not restarted")
        }
        return .suspicious(exit)
    }

    /// A failure that was not a quick exit of the cause rank breaks the chain.
    public mutating func reset() { previous = nil }
}
