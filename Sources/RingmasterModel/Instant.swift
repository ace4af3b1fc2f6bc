import Foundation

/// A moment as the fault manager sees it: a monotonic reading for deadlines and intervals, and the wall
/// time for event timestamps. Only a clock makes one; everything downstream takes it as an input.
public struct Instant: Hashable, Codable, Sendable, Comparable, CustomStringConvertible {
    /// Time since the clock's origin; never goes backwards.
    public var monotonic: Duration
    /// Wall time, for events and the store.
    public var wall: Date

    public init(monotonic: Duration, wall: Date) {
        self.monotonic = monotonic
        self.wall = wall
    }

    public static func < (a: Instant, b: Instant) -> Bool { a.monotonic < b.monotonic }

    /// Seconds from `other` to this instant, on the monotonic reading.
    public func timeIntervalSince(_ other: Instant) -> TimeInterval { (monotonic - other.monotonic).seconds }

    public func adding(_ d: Duration) -> Instant { Instant(monotonic: monotonic + d, wall: wall.addingTimeInterval(d.seconds)) }

    public func addingTimeInterval(_ seconds: TimeInterval) -> Instant {
        adding(.milliseconds(Int64((seconds * 1000).rounded())))
    }

    public static func + (a: Instant, seconds: TimeInterval) -> Instant { a.addingTimeInterval(seconds) }

    public var description: String { monotonic.seconds.fixed(3) + " s" }
}
