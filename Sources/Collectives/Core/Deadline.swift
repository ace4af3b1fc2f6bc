import SystemUtilities

/// A point on the monotonic clock, in nanoseconds.
public struct Deadline: Sendable, Comparable {
    public var nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public static func now() -> Deadline { Deadline(nanoseconds: POSIX.monotonicNanoseconds()) }

    public static func after(_ d: Duration) -> Deadline {
        let (s, atto) = d.components
        let ns = UInt64(max(0, s)) * 1_000_000_000 + UInt64(max(0, atto) / 1_000_000_000)
        return Deadline(nanoseconds: now().nanoseconds &+ ns)
    }

    /// Milliseconds left for poll(2): rounded up, 0 when passed, capped.
    public func pollTimeout() -> Int32 {
        let n = Deadline.now().nanoseconds
        guard nanoseconds > n else { return 0 }
        return Int32(min((nanoseconds - n + 999_999) / 1_000_000, 1 << 30))
    }

    public var hasPassed: Bool { Deadline.now() >= self }

    public static func < (a: Deadline, b: Deadline) -> Bool { a.nanoseconds < b.nanoseconds }
}
