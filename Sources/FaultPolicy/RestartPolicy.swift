import Foundation
import RingmasterModel

/// The restart budget and the backoff between attempts: `maxRestarts` restarts (a node loss counts once,
/// whatever number of ranks it took). The first restart after a failure is immediate; the n-th
/// consecutive failure without a committed checkpoint in between (n ≥ 2) waits `backoff · 2^(n-2)`,
/// capped at `maxDelay`, with ±`jitter` spread so many jobs do not relaunch in lockstep.
public struct RestartPolicy: Sendable {
    public var maxRestarts: Int
    public var backoff: TimeInterval
    public var maxDelay: TimeInterval
    public var jitter: Double

    public init(maxRestarts: Int, backoff: Duration, maxDelay: Duration = .seconds(60), jitter: Double = 0.2) {
        self.maxRestarts = maxRestarts
        self.backoff = backoff.seconds
        self.maxDelay = maxDelay.seconds
        self.jitter = jitter
    }

    public init(_ failure: FailurePolicy) {
        self.init(maxRestarts: failure.maxRestarts, backoff: failure.backoff)
    }

    /// Whether another restart is allowed after `restarts` so far.
    public func allowsRestart(after restarts: Int) -> Bool { restarts < maxRestarts }

    /// Delay before the restart that follows the `consecutive`-th failure in a row (1 = first);
    /// `unit` is a uniform random number in [0, 1) (injected, so tests pick it).
    public func delay(consecutive: Int, unit: Double) -> TimeInterval {
        guard consecutive >= 2 else { return 0 }
        let base = min(backoff * pow(2, Double(consecutive - 2)), maxDelay)
        return max(0, base * (1 + jitter * (2 * unit - 1)))
    }
}
