import Foundation
import RingmasterModel

/// The restart budget and the backoff between attempts: `maxRestarts` restarts (a node loss counts once,
/// whatever number of ranks it took), each after `backoff · 2^(n-1)` for the n-th consecutive failure,
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
        let base = min(backoff * pow(2, Double(max(consecutive, 1) - 1)), maxDelay)
        return max(0, base * (1 + jitter * (2 * unit - 1)))
    }
}
