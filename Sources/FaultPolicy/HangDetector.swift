import Foundation
import RingmasterModel

/// Hang detection for one attempt: a rank that has reported a first `step` and then nothing for
/// `stallTimeout` is hung. Pure: reports and the time come in, verdicts and the next deadline go out.
///
/// Sections: a rank that announces `section NAME SECONDS` (an evaluation, a long save) may be silent up
/// to SECONDS. Its peers usually wait for it in their next collective and go silent too, so while any
/// section is open no rank is taken for hung before the open sections' deadlines; a rank whose section
/// outlives its own timeout is hung. When the last section ends, every rank's stall clock starts afresh.
public struct HangDetector: Sendable {
    public let stallTimeout: TimeInterval
    /// Last report per rank: the step and when it arrived.
    private var last: [Int: (step: Int, at: Date)] = [:]
    /// Open sections per rank: name, when it opened, and the time it may last.
    private var sections: [Int: (name: String, openedAt: Date, timeout: TimeInterval)] = [:]

    /// A verdict: the rank, its last step, how long it was silent, and the timeout that fired.
    public struct Stall: Hashable, Sendable {
        public var rank: Int
        public var step: Int
        public var silentFor: TimeInterval
        public var timeout: TimeInterval
        /// The section whose timeout fired; nil for the stall timeout.
        public var section: String?

        public init(rank: Int, step: Int, silentFor: TimeInterval, timeout: TimeInterval, section: String?) {
            self.rank = rank
            self.step = step
            self.silentFor = silentFor
            self.timeout = timeout
            self.section = section
        }
    }

    public init(stallTimeout: Duration) { self.stallTimeout = stallTimeout.seconds }

    /// A `step` report from `rank`.
    public mutating func stepped(rank: Int, step: Int, at now: Date) {
        last[rank] = (step, now)
    }

    /// `section NAME SECONDS` from `rank` (a second one replaces the first).
    public mutating func sectionOpened(rank: Int, name: String, seconds: Double, at now: Date) {
        sections[rank] = (name, now, seconds)
    }

    /// `section end` from `rank`. When no section is left open, every rank's stall clock restarts now.
    public mutating func sectionEnded(rank: Int, at now: Date) {
        guard sections.removeValue(forKey: rank) != nil, sections.isEmpty else { return }
        for (r, report) in last where report.at < now { last[r] = (report.step, now) }
    }

    /// The hung rank, if any: while sections are open, the rank whose section outlived its timeout;
    /// otherwise the rank silent longest, once it has been silent for `stallTimeout`.
    public func stalled(at now: Date) -> Stall? {
        if !sections.isEmpty {
            guard let (rank, s) = sections.min(by: { ($0.value.openedAt + $0.value.timeout, $0.key) < ($1.value.openedAt + $1.value.timeout, $1.key) }),
                  now.timeIntervalSince(s.openedAt) >= s.timeout
            else { return nil }
            return Stall(rank: rank, step: last[rank]?.step ?? 0, silentFor: now.timeIntervalSince(s.openedAt),
                         timeout: s.timeout, section: s.name)
        }
        guard let (rank, report) = last.min(by: { ($0.value.at, $0.key) < ($1.value.at, $1.key) }) else { return nil }
        let silent = now.timeIntervalSince(report.at)
        return silent >= stallTimeout ? Stall(rank: rank, step: report.step, silentFor: silent, timeout: stallTimeout, section: nil) : nil
    }

    /// When the next hang verdict could be due (for a timer); nil before any report.
    public var nextDeadline: Date? {
        if !sections.isEmpty { return sections.values.map { $0.openedAt + $0.timeout }.min() }
        return last.values.map(\.at).min().map { $0.addingTimeInterval(stallTimeout) }
    }

    /// Forget a rank that exited: an exited rank is not hung. A section it left open ends with it (and,
    /// when it was the last one open, the other ranks' stall clocks start afresh, as at `section end`).
    public mutating func exited(rank: Int, at now: Date) {
        last[rank] = nil
        if sections[rank] != nil { sectionEnded(rank: rank, at: now) }
    }
}
