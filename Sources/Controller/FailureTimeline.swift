import ControllerAPI
import Foundation
import RingmasterModel
import StateStore

/// Failures read back from the event rows (pure: events in, views out). Each `failure.detected` row that
/// does not refine an earlier one starts a failure; the job's following rows until its next failure
/// describe it: a root-cause refinement (kind, node, rank), `recovery.teardown`, `recovery.decision`,
/// `recovery.relaunch`, `recovery.complete` (the phases), or the job ending instead.
public enum FailureTimeline {
    /// `attempts`: attempt row id → attempt number (event rows name the row).
    public static func failures(_ events: [EventRecord], attempts: [Int64: Int]) -> [FailureView] {
        var out: [FailureView] = []
        var open: [JobID: Int] = [:]  // job → index in `out` of its newest failure
        for e in events {
            guard let job = e.jobId else { continue }
            let p = payload(e)
            switch e.kind {
            case .failureDetected where p["refines"] == nil:
                if let i = open[job], out[i].outcome == "recovering" { out[i].outcome = "superseded" }
                open[job] = out.count
                out.append(started(e, job: job, p, attempt: e.attemptId.flatMap { attempts[$0] }))
            case .failureDetected:
                guard let i = open[job] else { continue }
                out[i].kind = p["kind"]?.text ?? out[i].kind
                out[i].node = e.nodeId?.rawValue ?? out[i].node
                out[i].rank = e.rank ?? out[i].rank
                out[i].events.append(e.id ?? 0)
            case .recoveryTeardown:
                guard let i = open[job], let s = p["teardownSeconds"]?.number else { continue }
                out[i].phases.append(FailurePhase(name: "teardown", start: out[i].detectedAt, seconds: s))
                out[i].events.append(e.id ?? 0)
            case .recoveryDecision:
                guard let i = open[job] else { continue }
                let teardownEnd = end(of: "teardown", out[i]) ?? out[i].detectedAt
                out[i].decision = e.message
                out[i].phases.append(FailurePhase(name: "decision", start: teardownEnd,
                                                  seconds: milliseconds(max(0, e.time.timeIntervalSince(teardownEnd)))))
                if let delay = p["delaySeconds"]?.number, delay > 0 {
                    out[i].phases.append(FailurePhase(name: "backoff", start: e.time, seconds: delay))
                }
                out[i].events.append(e.id ?? 0)
            case .recoveryRelaunch, .recoveryRejoin:
                guard let i = open[job] else { continue }
                out[i].events.append(e.id ?? 0)
            case .recoveryComplete:
                guard let i = open[job] else { continue }
                complete(&out[i], e, p)
                open[job] = nil
            case .jobState:
                guard let i = open[job], let to = p["to"]?.text, ["failed", "cancelled", "succeeded"].contains(to) else { continue }
                if out[i].outcome == "recovering" { out[i].outcome = to }
                open[job] = nil
            default:
                continue
            }
        }
        return out
    }

    static func started(_ e: EventRecord, job: JobID, _ p: [String: Value], attempt: Int?) -> FailureView {
        let injectedAt = p["injectedAt"]?.number.map { Date(timeIntervalSince1970: $0) }
        let detection = p["detectionSeconds"]?.number
        var phases: [FailurePhase] = []
        if let injectedAt, let detection {
            phases.append(FailurePhase(name: "detection", start: injectedAt, seconds: detection))
        }
        let parts = e.message.components(separatedBy: "; last lines: ")
        let lines = parts.count > 1 ? parts.dropFirst().joined(separator: "; last lines: ").components(separatedBy: " ⏎ ") : []
        return FailureView(
            job: job.rawValue, attempt: attempt, kind: p["kind"]?.text ?? "unknown", node: e.nodeId?.rawValue, rank: e.rank,
            detectedAt: e.time, message: parts[0], step: p["step"]?.number.map { Int($0) },
            exitStatus: p["exitStatus"]?.number.map { Int($0) }, signal: p["signal"]?.number.map { Int($0) },
            injected: p["injected"]?.text, injectedAt: injectedAt, detectionSeconds: detection, lastLines: lines,
            decision: nil, recoverySeconds: nil, lostSteps: nil, resumeStep: nil, outcome: "recovering", phases: phases,
            events: [e.id ?? 0])
    }

    /// The phases as `recovery.complete` measured them (replacing the partial ones read before it).
    static func complete(_ f: inout FailureView, _ e: EventRecord, _ p: [String: Value]) {
        f.outcome = "recovered"
        f.recoverySeconds = p["recoverySeconds"]?.number
        f.lostSteps = p["lostSteps"]?.number.map { Int($0) }
        f.resumeStep = p["resumeStep"]?.number.map { Int($0) }
        f.events.append(e.id ?? 0)
        guard let teardown = p["teardownSeconds"]?.number, let backoff = p["backoffSeconds"]?.number,
              let relaunch = p["relaunchSeconds"]?.number, let first = p["rendezvousRestoreFirstStepSeconds"]?.number else { return }
        var phases = f.phases.filter { $0.name == "detection" }
        let t0 = f.detectedAt
        phases.append(FailurePhase(name: "teardown", start: t0, seconds: teardown))
        let decided = f.phases.first { $0.name == "decision" }
        phases.append(FailurePhase(name: "decision", start: t0 + teardown, seconds: min(decided?.seconds ?? 0, backoff)))
        phases.append(FailurePhase(name: "backoff", start: t0 + teardown, seconds: backoff))
        phases.append(FailurePhase(name: "relaunch", start: t0 + teardown + backoff, seconds: relaunch))
        phases.append(FailurePhase(name: "first-step", start: t0 + teardown + backoff + relaunch, seconds: first))
        f.phases = phases
    }

    /// Rounded to the millisecond the store keeps times with.
    static func milliseconds(_ seconds: Double) -> Double { (seconds * 1000).rounded() / 1000 }

    static func end(of phase: String, _ f: FailureView) -> Date? {
        f.phases.last { $0.name == phase }.map { $0.start + $0.seconds }
    }

    /// A payload field: JSON text or number (numbers written as text, like `"step": "120"`, read as numbers too).
    enum Value {
        case text(String)
        case number(Double)
        var text: String? {
            switch self {
            case .text(let s): s
            case .number(let d): d.rounded() == d ? String(Int(d)) : String(d)
            }
        }
        var number: Double? {
            switch self {
            case .text(let s): Double(s)
            case .number(let d): d
            }
        }
    }

    static func payload(_ e: EventRecord) -> [String: Value] {
        guard let text = e.payload, let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            return [:]
        }
        var out: [String: Value] = [:]
        for (k, v) in object {
            if let s = v as? String { out[k] = .text(s) } else if let n = v as? NSNumber { out[k] = .number(n.doubleValue) }
        }
        return out
    }

    /// Counts, the observed MTBF over the events' window and the planner's for `accelerators`.
    public static func summary(_ failures: [FailureView], firstEvent: Date?, now: Date, accelerators: Int,
                               mtbfPerAccelerator: Double = 50_000 * 3600) -> FailuresView {
        var byNode: [String: Int] = [:]
        var byKind: [String: Int] = [:]
        for f in failures {
            byKind[f.kind, default: 0] += 1
            if let n = f.node { byNode[n, default: 0] += 1 }
        }
        let window = firstEvent.map { max(0, now.timeIntervalSince($0)) } ?? 0
        return FailuresView(
            failures: failures, byNode: byNode, byKind: byKind,
            observedMTBFSeconds: failures.isEmpty ? nil : window / Double(failures.count),
            plannerMTBFSeconds: accelerators > 0 ? mtbfPerAccelerator / Double(accelerators) : nil,
            accelerators: accelerators, windowSeconds: window)
    }
}
