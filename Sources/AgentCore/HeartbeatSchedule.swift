/// Unsolicited heartbeats every `interval` from the start, and the sequence numbers of every heartbeat
/// (those answering a ping included).
public struct HeartbeatSchedule: Hashable, Sendable {
    public let interval: Duration
    /// Due time of the next unsolicited heartbeat; nil before `start`.
    public private(set) var next: Duration?
    public private(set) var sequence: UInt64 = 0

    public init(interval: Duration) {
        self.interval = interval
    }

    public mutating func start(at now: Duration) {
        next = now + interval
    }

    /// True when a heartbeat is due at `now`; the next one is then due one interval after `now`.
    public mutating func takeDue(at now: Duration) -> Bool {
        guard let due = next, now >= due else { return false }
        next = now + interval
        return true
    }

    public mutating func nextSequence() -> UInt64 {
        sequence += 1
        return sequence
    }
}
