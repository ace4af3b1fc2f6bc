import Foundation
import RingmasterModel

/// `stallTimeout: auto`: the hang timeout derived from the step intervals the job's ranks reported (like
/// NVIDIA resiliency's calculated timeouts): `multiple` × the longest of the recent intervals, never
/// below `floor`; until `minimumSamples` intervals are known, the conservative `startup` timeout.
/// The intervals outlive an attempt: a relaunched attempt starts with the job's history.
public struct AdaptiveStallTimeout: Hashable, Sendable {
    public static let multiple = 5.0
    public static let floor: TimeInterval = 1
    public static let startup: TimeInterval = 60
    public static let window = 256
    public static let minimumSamples = 8

    private var recent: [TimeInterval] = []
    private var next = 0

    public init() {}

    /// One rank's time between two consecutive step reports.
    public mutating func observe(_ interval: TimeInterval) {
        guard interval >= 0 else { return }
        if recent.count < Self.window {
            recent.append(interval)
        } else {
            recent[next] = interval
            next = (next + 1) % Self.window
        }
    }

    public var samples: Int { recent.count }
    public var longest: TimeInterval? { recent.max() }

    public var timeout: TimeInterval {
        guard recent.count >= Self.minimumSamples, let longest else { return Self.startup }
        return max(Self.floor, Self.multiple * longest)
    }

    /// Why the timeout is what it is, for the decision event.
    public var reason: String {
        guard recent.count >= Self.minimumSamples, let longest else {
            return String(format: "auto: the start-up timeout of %.0f s (%d of %d step intervals seen)",
                          Self.startup, recent.count, Self.minimumSamples)
        }
        return String(format: "auto: %.0f × the longest of the last %d step intervals (%.3f s), at least %.0f s",
                      Self.multiple, recent.count, longest, Self.floor)
    }
}
