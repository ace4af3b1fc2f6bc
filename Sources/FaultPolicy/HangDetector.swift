import Foundation
import RingmasterModel

/// Hang detection for one attempt: a rank that has reported a first `step` and then nothing for
/// `stallTimeout` is hung. Pure: reports and the time come in, verdicts and the next deadline go out.
public struct HangDetector: Sendable {
    public let stallTimeout: TimeInterval
    /// Last report per rank: the step and when it arrived.
    private var last: [Int: (step: Int, at: Date)] = [:]

    public init(stallTimeout: Duration) { self.stallTimeout = stallTimeout.seconds }

    /// A `step` report from `rank`.
    public mutating func stepped(rank: Int, step: Int, at now: Date) {
        last[rank] = (step, now)
    }

    /// The rank that has been silent longest, if it has been silent for `stallTimeout` or more.
    public func stalled(at now: Date) -> (rank: Int, step: Int, silentFor: TimeInterval)? {
        guard let (rank, report) = last.min(by: { ($0.value.at, $0.key) < ($1.value.at, $1.key) }) else { return nil }
        let silent = now.timeIntervalSince(report.at)
        return silent >= stallTimeout ? (rank, report.step, silent) : nil
    }

    /// When the next hang verdict could be due (for a timer); nil before any report.
    public var nextDeadline: Date? {
        last.values.map(\.at).min().map { $0.addingTimeInterval(stallTimeout) }
    }

    /// Forget a rank that exited: an exited rank is not hung.
    public mutating func exited(rank: Int) { last[rank] = nil }
}
