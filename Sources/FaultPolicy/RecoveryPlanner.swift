import Foundation
import RingmasterModel

/// What to do after a failure, decided from the failure, the budget and the launch-error verdict.
/// Detection says what happened; this decides; the runner acts (design style point 3).
public struct RecoveryDecision: Hashable, Sendable {
    public enum Action: Hashable, Sendable {
        case restart
        case fail(String)
    }

    public var action: Action
    /// Seconds to wait before relaunching.
    public var delay: TimeInterval
    /// Nodes the next attempt must not use (lost, quarantined).
    public var exclude: Set<NodeID>
    /// Nodes the next attempt should avoid when others can take their ranks (a suspected node).
    public var avoid: Set<NodeID>
    /// One line for the `recovery.decision` event.
    public var summary: String

    public init(action: Action, delay: TimeInterval, exclude: Set<NodeID> = [], avoid: Set<NodeID> = [], summary: String) {
        self.action = action
        self.delay = delay
        self.exclude = exclude
        self.avoid = avoid
        self.summary = summary
    }
}

public enum RecoveryPlanner {
    /// - Parameters:
    ///   - restarts: restarts the job already had.
    ///   - consecutive: failures in a row without a committed checkpoint in between (1 = this one).
    ///   - quarantined: nodes quarantined by this failure or earlier.
    ///   - unit: a uniform random number in [0, 1) for the backoff's jitter.
    public static func decide(
        _ failure: Failure, verdict: LaunchErrorDetector.Verdict, restarts: Int, consecutive: Int, policy: RestartPolicy,
        quarantined: Set<NodeID> = [], unit: Double
    ) -> RecoveryDecision {
        if case .deterministic(let cause) = verdict {
            return RecoveryDecision(action: .fail(cause), delay: 0, summary: "fail the job: \(cause)")
        }
        guard policy.allowsRestart(after: restarts) else {
            let cause = "restart budget of \(policy.maxRestarts) spent; last failure \(failure.kind.rawValue): \(failure.cause)"
            return RecoveryDecision(action: .fail(cause), delay: 0, summary: "fail the job: \(cause)")
        }
        let delay = policy.delay(consecutive: consecutive, unit: unit)
        let exclude = quarantined
        var avoid: Set<NodeID> = []
        var how: String
        switch failure.kind {
        case .nodeLost:
            // Avoided, not excluded: a spare or free node takes its ranks; if none is free and the node is
            // back (its agent restarted), it is used again. Repeat offenders are quarantined.
            if let node = failure.node { avoid.insert(node) }
            how = "restart without \(failure.node.map(\.rawValue) ?? "the lost node") where a spare or free node can take its "
                + "ranks (else on it once it is back, or wait for nodes)"
        case .checkpointCorrupt:
            how = "restart from the newest checkpoint before the corrupt one"
        case .rankExit, .hang, .launchError:
            if case .suspicious(let exit) = verdict {
                avoid.insert(exit.node)
                how = "restart, moving rank \(exit.rank) off \(exit.node) if another node is free (it failed right after start)"
            } else {
                how = "restart on the same nodes"
            }
        }
        if let q = failure.node, quarantined.contains(q), failure.kind != .nodeLost {
            how += "; \(q) is quarantined and is replaced"
        }
        let summary = "\(how), attempt \(restarts + 2) after " + String(format: "%.2f s", delay)
            + " (restart \(restarts + 1) of \(policy.maxRestarts))"
        return RecoveryDecision(action: .restart, delay: delay, exclude: exclude, avoid: avoid, summary: summary)
    }
}
