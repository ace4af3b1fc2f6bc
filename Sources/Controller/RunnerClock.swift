import Foundation
import RingmasterModel

/// The runner's one clock: a monotonic reading for deadlines and the wall time for event timestamps.
public protocol RunnerClock: Sendable {
    func now() -> Instant
}

/// The production clock: `ContinuousClock` since the controller started, and the wall time at start
/// plus that reading (so event times never go backwards, whatever the system clock does).
public struct SystemRunnerClock: RunnerClock {
    private let origin = ContinuousClock.now
    private let wallOrigin = Date()

    public init() {}

    public func now() -> Instant {
        let elapsed = ContinuousClock.now - origin
        return Instant(monotonic: elapsed, wall: wallOrigin.addingTimeInterval(elapsed.seconds))
    }
}

/// The runner's one random source: the system's CSPRNG (attempt tokens are secrets), or a seeded
/// generator where a run must repeat (simulations, benchmarks).
public struct RunnerRandom: RandomNumberGenerator, Sendable {
    private var seeded: SplitMix64?

    public static let system = RunnerRandom(seeded: nil)
    public static func seeded(_ seed: UInt64) -> RunnerRandom { RunnerRandom(seeded: SplitMix64(seed: seed)) }

    private init(seeded: SplitMix64?) { self.seeded = seeded }

    public mutating func next() -> UInt64 {
        if seeded != nil { return seeded!.next() }
        var system = SystemRandomNumberGenerator()
        return system.next()
    }
}
