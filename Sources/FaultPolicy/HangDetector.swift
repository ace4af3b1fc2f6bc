import Foundation
import RingmasterModel

/// Hang detection for one attempt: a rank that has reported a first `step` and then nothing for the
/// stall timeout is hung. Pure: reports and the time come in, verdicts and the next deadline go out.
///
/// The timeout is the manifest's fixed `stallTimeout`, or with `auto` the `AdaptiveStallTimeout` of the
/// intervals between consecutive steps of each rank.
///
/// Sections: a rank that announces `section NAME SECONDS` (an evaluation, a long save) may be silent up
/// to SECONDS. Its peers usually wait for it in their next collective and go silent too, so while any
/// section is open no rank is taken for hung before the open sections' deadlines; a rank whose section
/// outlives its own timeout is hung. When the last section ends, every rank's stall clock starts afresh
/// (and the interval spanning the section is not a step interval).
public struct HangDetector: Sendable {
    public let setting: StallTimeout
    /// The intervals seen (this attempt's and, when relaunched, the job's earlier ones).
    public private(set) var intervals: AdaptiveStallTimeout
    /// Last report per rank: the step and when it arrived.
    private var last: [Int: (step: Int, at: Instant)] = [:]
    /// Open sections per rank: name, when it opened, and the time it may last.
    private var sections: [Int: (name: String, openedAt: Instant, timeout: TimeInterval)] = [:]

    /// A verdict: the rank, its last step, how long it was silent, and the timeout that fired and why.
    public struct Stall: Hashable, Sendable {
        public var rank: Int
        public var step: Int
        public var silentFor: TimeInterval
        public var timeout: TimeInterval
        /// The section whose timeout fired; nil for the stall timeout.
        public var section: String?
        /// How the timeout was chosen ("fixed stallTimeout 3s", "auto: 5 × …").
        public var why: String

        public init(rank: Int, step: Int, silentFor: TimeInterval, timeout: TimeInterval, section: String?, why: String = "") {
            self.rank = rank
            self.step = step
            self.silentFor = silentFor
            self.timeout = timeout
            self.section = section
            self.why = why
        }
    }

    public init(stallTimeout: StallTimeout, intervals: AdaptiveStallTimeout = AdaptiveStallTimeout()) {
        setting = stallTimeout
        self.intervals = intervals
    }

    public init(stallTimeout: Duration) { self.init(stallTimeout: .fixed(stallTimeout)) }

    /// The stall timeout in force now, in seconds.
    public var stallTimeout: TimeInterval {
        switch setting {
        case .fixed(let d): d.seconds
        case .auto: intervals.timeout
        }
    }

    var timeoutReason: String {
        switch setting {
        case .fixed(let d): "the job's stallTimeout of \(d.manifestText)"
        case .auto: intervals.reason
        }
    }

    /// Whether a rank has a section open (its own timeout then rules the deadline).
    public var hasOpenSection: Bool { !sections.isEmpty }

    /// A `step` report from `rank`.
    public mutating func stepped(rank: Int, step: Int, at now: Instant) {
        if let previous = last[rank], step > previous.step, sections.isEmpty {
            intervals.observe(now.timeIntervalSince(previous.at) / Double(step - previous.step))
        }
        last[rank] = (step, now)
    }

    /// `section NAME SECONDS` from `rank` (a second one replaces the first).
    public mutating func sectionOpened(rank: Int, name: String, seconds: Double, at now: Instant) {
        sections[rank] = (name, now, seconds)
    }

    /// `section end` from `rank`. When no section is left open, every rank's stall clock restarts now.
    public mutating func sectionEnded(rank: Int, at now: Instant) {
        guard sections.removeValue(forKey: rank) != nil, sections.isEmpty else { return }
        for (r, report) in last where report.at < now { last[r] = (report.step, now) }
    }

    /// The hung rank, if any: while sections are open, the rank whose section outlived its timeout;
    /// otherwise the rank silent longest, once it has been silent for the stall timeout.
    public func stalled(at now: Instant) -> Stall? {
        if !sections.isEmpty {
            guard let (rank, s) = sections.min(by: { ($0.value.openedAt + $0.value.timeout, $0.key) < ($1.value.openedAt + $1.value.timeout, $1.key) }),
                  now.timeIntervalSince(s.openedAt) >= s.timeout
            else { return nil }
            return Stall(rank: rank, step: last[rank]?.step ?? 0, silentFor: now.timeIntervalSince(s.openedAt),
                         timeout: s.timeout, section: s.name, why: "the section's own timeout")
        }
        guard let (rank, report) = last.min(by: { ($0.value.at, $0.key) < ($1.value.at, $1.key) }) else { return nil }
        let silent = now.timeIntervalSince(report.at)
        let timeout = stallTimeout
        return silent >= timeout
            ? Stall(rank: rank, step: report.step, silentFor: silent, timeout: timeout, section: nil, why: timeoutReason) : nil
    }

    /// When the next hang verdict could be due (for a timer); nil before any report.
    public var nextDeadline: Instant? {
        if !sections.isEmpty { return sections.values.map { $0.openedAt + $0.timeout }.min() }
        return last.values.map(\.at).min().map { $0 + stallTimeout }
    }

    /// Forget a rank that exited: an exited rank is not hung. A section it left open ends with it (and,
    /// when it was the last one open, the other ranks' stall clocks start afresh, as at `section end`).
    public mutating func exited(rank: Int, at now: Instant) {
        last[rank] = nil
        if sections[rank] != nil { sectionEnded(rank: rank, at: now) }
    }
}
