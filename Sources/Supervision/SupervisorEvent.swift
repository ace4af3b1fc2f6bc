import FaultPolicy
import Foundation
import RingmasterModel

/// The chaos injection a detection matched: what, and when.
public struct Injection: Hashable, Sendable {
    public var what: String
    public var at: Instant
}

/// The phases of one recovery, from detection to the new attempt's first step.
public struct RecoveryPhases: Hashable, Sendable {
    public var total: TimeInterval
    public var teardown: TimeInterval
    public var backoff: TimeInterval
    public var relaunch: TimeInterval
    public var firstStep: TimeInterval
    public var lostSteps: Int
    public var resumeStep: Int
    public var firstStepNumber: Int
}

/// One event row, as a typed value: the core decides and words it; the shell only stores it.
public struct SupervisorEvent: Hashable, Sendable {
    public var time: Instant
    public var job: JobID?
    public var attempt: Int?
    public var node: NodeID?
    public var rank: Int?
    public var detail: Detail

    public enum Detail: Hashable, Sendable {
        /// `failure.detected`: the attempt's first failure (`lastLines`: the failing rank's, filled in by
        /// the shell from its log), with the chaos injection it matched.
        case failureDetected(Failure, step: Int?, injection: Injection?, lastLines: [String])
        /// `failure.detected` again: a later failure is the likelier root cause.
        case rootCause(later: Failure, earlier: Failure)
        case teardown(worldSize: Int, seconds: TimeInterval)
        case decision(summary: String, delay: TimeInterval, kind: FailureKind, restart: Bool)
        case relaunch(nodes: [NodeID], rendezvous: String, resumeStep: Int?)
        case shrink(from: Int, to: Int, worldSize: Int, nodes: Int)
        case grow(step: Int, from: Int, to: Int)
        case recoveryComplete(FailureKind, RecoveryPhases)
        case stepping(step: Int, secondsAfterLaunch: TimeInterval)
        case quarantined(reason: String)
        case released(state: NodeState?)
        case waiting(reason: String)
        /// `checkpoint.failed`: the step will not be committed (a rank could not write its shard, or the
        /// controller could not commit it); training goes on and resumes from `newest` after a failure.
        case checkpointFailed(step: Int, cause: String, newest: Int?, inARow: Int)
        /// `job.waiting`: the attempt could not be recorded (the store cannot be written); it is tried again.
        case launchDeferred(error: String, retry: TimeInterval)
        /// `recovery.rejoin`: the survivors were asked to abandon their step and answer within `seconds`.
        case rejoinAsked(survivors: [Int], seconds: TimeInterval)
        /// `recovery.rejoin`: the step the survivors resume from in process, or (nil) why the recovery is cold.
        case rejoinDecided(step: Int?, reason: String)
    }

    public init(time: Instant, job: JobID? = nil, attempt: Int? = nil, node: NodeID? = nil, rank: Int? = nil, _ detail: Detail) {
        self.time = time
        self.job = job
        self.attempt = attempt
        self.node = node
        self.rank = rank
        self.detail = detail
    }

    public var kind: EventKind {
        switch detail {
        case .failureDetected, .rootCause: .failureDetected
        case .teardown: .recoveryTeardown
        case .decision: .recoveryDecision
        case .relaunch: .recoveryRelaunch
        case .shrink: .recoveryShrink
        case .grow: .recoveryGrow
        case .recoveryComplete: .recoveryComplete
        case .stepping: .attemptStepping
        case .quarantined: .nodeQuarantined
        case .released: .nodeReleased
        case .waiting, .launchDeferred: .jobWaiting
        case .checkpointFailed: .checkpointFailed
        case .rejoinAsked, .rejoinDecided: .recoveryRejoin
        }
    }

    private var jobName: String { job?.rawValue ?? "-" }
    private var attemptName: String { attempt.map(String.init) ?? "-" }
    private var nodeName: String { node?.rawValue ?? "-" }

    public var message: String {
        switch detail {
        case .failureDetected(let f, let step, _, let lines):
            let tail = lines.isEmpty ? "" : "; last lines: " + lines.joined(separator: " ⏎ ")
            return "\(f.kind.rawValue) in attempt \(attemptName) of \(jobName) at step \(step.map(String.init) ?? "-"): "
                + f.cause + tail
        case .rootCause(let later, let earlier):
            // Worded like the first detection (kind first), so readers and filters see the root cause alike.
            return "\(later.kind.rawValue) in attempt \(attemptName) of \(jobName): \(later.cause) — the root cause "
                + "(the earlier \(earlier.kind.rawValue): \(earlier.cause) was a consequence)"
        case .teardown(let worldSize, let seconds):
            return "attempt \(attemptName) of \(jobName): all \(worldSize) ranks gone " + String(format: "%.2f s after detection", seconds)
        case .decision(let summary, _, _, _):
            return "\(jobName): \(summary)"
        case .relaunch(let nodes, let rendezvous, let resume):
            return "attempt \(attemptName) of \(jobName) relaunched on \(nodes.map(\.rawValue).joined(separator: ", "))"
                + ", rendezvous \(rendezvous), " + (resume.map { "restoring step \($0)" } ?? "fresh start (no checkpoint)")
        case .shrink(let from, let to, let worldSize, let nodes):
            return "\(jobName): data parallelism \(from) → \(to) (\(worldSize) ranks on \(nodes) nodes) to continue without "
                + "the lost capacity; it grows back at a checkpoint once nodes return"
        case .grow(let step, let from, let to):
            return "\(jobName): nodes are back; stopping attempt \(attemptName) at checkpoint \(step) to grow data "
                + "parallelism \(from) → \(to)"
        case .recoveryComplete(let kind, let p):
            return String(format: "%@ recovered from %@ in %.2f s (teardown %.2f, backoff %.2f, relaunch %.2f, "
                + "rendezvous + restore + first step %.2f); resumed at step %d, %d steps lost",
                jobName, kind.rawValue, p.total, p.teardown, p.backoff, p.relaunch, p.firstStep, p.resumeStep, p.lostSteps)
        case .stepping(let step, let seconds):
            return "attempt \(attemptName) of \(jobName): first step \(step) reported by rank \(rank ?? 0), "
                + String(format: "%.2f s after launch", seconds)
        case .quarantined(let reason):
            return "\(nodeName) quarantined: \(reason)"
        case .released(let state):
            return "\(nodeName) released from quarantine; it is \(state?.rawValue ?? "connecting")"
        case .waiting(let reason):
            return "\(jobName) \(reason)"
        case .checkpointFailed(let step, let cause, let newest, let inARow):
            let resume = newest.map { "a failure now resumes from step \($0)" } ?? "no step is committed yet: a failure now starts over"
            return "step \(step) of \(jobName) was not committed: \(cause); training continues and \(resume)"
                + (inARow > 1 ? " (\(inARow) checkpoints in a row failed)" : "")
        case .launchDeferred(let error, let retry):
            return "\(jobName) could not launch attempt \(attemptName): \(error); "
                + String(format: "trying again in %.0f s", retry)
        case .rejoinAsked(let survivors, let seconds):
            return "\(jobName): asking the \(survivors.count) surviving ranks of attempt \(attemptName) to abandon their step "
                + String(format: "and rejoin in process (they answer within %.0f s)", seconds)
        case .rejoinDecided(let step?, let reason):
            return "\(jobName): the survivors of attempt \(attemptName) rejoin in process at step \(step): \(reason)"
        case .rejoinDecided(nil, let reason):
            return "\(jobName): no in-process rejoin for attempt \(attemptName): \(reason); restarting cold from the newest checkpoint"
        }
    }

    /// The event row's payload fields.
    public var payload: [String: PayloadValue] {
        switch detail {
        case .failureDetected(let f, let step, let injection, _):
            var p: [String: PayloadValue] = ["kind": .text(f.kind.rawValue), "step": .text(step.map(String.init) ?? "")]
            if let s = f.exitStatus { p["exitStatus"] = .text(String(s)) }
            if let s = f.signal { p["signal"] = .text(String(s)) }
            if let injection {
                p["injectedAt"] = .text(String(injection.at.wall.timeIntervalSince1970))
                p["detectionSeconds"] = .text(String(format: "%.3f", f.detectedAt.timeIntervalSince(injection.at)))
                p["injected"] = .text(injection.what)
            }
            if let t = f.timeout {
                p["timeoutSeconds"] = .number(t.seconds)
                p["timeout"] = .text(t.why)
            }
            return p
        case .rootCause(let later, _): return ["kind": .text(later.kind.rawValue), "refines": .text("true")]
        case .teardown(_, let seconds): return ["teardownSeconds": .number(seconds)]
        case .decision(_, let delay, _, _): return ["delaySeconds": .number(delay)]
        case .checkpointFailed(let step, _, let newest, let inARow):
            var p: [String: PayloadValue] = ["step": .number(Double(step)), "failedInARow": .number(Double(inARow))]
            if let newest { p["resumeStep"] = .number(Double(newest)) }
            return p
        case .launchDeferred(_, let retry): return ["retrySeconds": .number(retry)]
        case .rejoinAsked(let survivors, let seconds):
            return ["survivors": .number(Double(survivors.count)), "deadlineSeconds": .number(seconds)]
        case .rejoinDecided(let step, _):
            return step.map { ["rejoin": .text("true"), "resumeStep": .number(Double($0))] } ?? ["rejoin": .text("false")]
        case .recoveryComplete(_, let p):
            return ["recoverySeconds": .number(p.total), "teardownSeconds": .number(p.teardown),
                    "backoffSeconds": .number(p.backoff), "relaunchSeconds": .number(p.relaunch),
                    "rendezvousRestoreFirstStepSeconds": .number(p.firstStep), "lostSteps": .number(Double(p.lostSteps)),
                    "resumeStep": .number(Double(p.resumeStep)), "firstStep": .number(Double(p.firstStepNumber))]
        default: return [:]
        }
    }
}

/// A payload field: text or a number (JSON string or number).
public enum PayloadValue: Hashable, Sendable, Encodable {
    case text(String)
    case number(Double)

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .text(let s): try c.encode(s)
        case .number(let d): try c.encode(d)
        }
    }
}
