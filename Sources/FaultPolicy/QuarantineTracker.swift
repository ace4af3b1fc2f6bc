import Foundation
import RingmasterModel

/// "Lemon nodes": a node implicated in `threshold` failures within `window` is quarantined until an
/// operator releases it. Pure; the caller persists the verdict.
public struct QuarantineTracker: Sendable {
    public let threshold: Int
    public let window: TimeInterval
    private var failures: [NodeID: [Instant]] = [:]

    public init(threshold: Int, window: Duration = .seconds(3600)) {
        self.threshold = threshold
        self.window = window.seconds
    }

    /// Records a failure on `node`; returns the reason when the node should now be quarantined.
    public mutating func failed(_ node: NodeID, kind: FailureKind, at now: Instant, threshold: Int? = nil) -> String? {
        let threshold = threshold ?? self.threshold
        var list = failures[node, default: []].filter { now.timeIntervalSince($0) < window }
        list.append(now)
        failures[node] = list
        guard list.count >= threshold else { return nil }
        failures[node] = []
        return "\(list.count) failures within \(Int(window / 60)) min (the last \(kind.rawValue)); "
            + "release with `ringmaster nodes release \(node)`"
    }

    /// Failures of `node` still inside the window.
    public func count(_ node: NodeID, at now: Instant) -> Int {
        failures[node, default: []].filter { now.timeIntervalSince($0) < window }.count
    }

    /// Forget a released node's history.
    public mutating func release(_ node: NodeID) { failures[node] = nil }
}
