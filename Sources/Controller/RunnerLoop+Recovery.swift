import AgentProtocol
import ControllerAPI
import FaultPolicy
import Foundation
import NodeManager
import Planning
import RingmasterModel
import StateStore
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// A recovering job waiting for its backoff.
struct PendingRelaunch: Sendable {
    var decision: RecoveryDecision
    var context: RecoveryContext
    var previous: Placement
}

/// The fault manager's side of the loop: detection → decision → teardown → relaunch → first step.
extension RunnerLoop {
    /// Records the attempt's first failure (`failure.detected`, with the failing rank's last lines), moves
    /// the job to `recovering`, and tells the surviving ranks to stop. Later failures of the same attempt
    /// are consequences of the first, or overlapping ones (lost nodes are still excluded).
    func detect(_ a: ActiveAttempt, _ failure: Failure) {
        guard a.failure == nil, a.stop == nil else {
            if let first = a.failure, a.stop == nil { refineCause(a, first: first, later: failure) }
            return
        }
        a.failure = failure
        let lastLines = failure.rank.map { rank in
            LogBook.lastLines(of: runner.logs.path(job: a.job.id, attempt: a.number, rank: rank), 5)
        } ?? []
        var payload: [String: String] = ["kind": failure.kind.rawValue, "step": a.step.map(String.init) ?? ""]
        if let s = failure.exitStatus { payload["exitStatus"] = String(s) }
        if let s = failure.signal { payload["signal"] = String(s) }
        if let (injected, what) = takeInjection(a.job.id) {
            let latency = failure.detectedAt.timeIntervalSince(injected)
            payload["injectedAt"] = String(injected.timeIntervalSince1970)
            payload["detectionSeconds"] = String(format: "%.3f", latency)
            payload["injected"] = what
            runner.metrics?.detectionSeconds.record(Duration.milliseconds(Int64(latency * 1000)))
        }
        let tail = lastLines.isEmpty ? "" : "; last lines: " + lastLines.joined(separator: " ⏎ ")
        guarded("recording the failure", job: a.job.id) {
            try store.recordEvent(EventRecord(
                time: failure.detectedAt, kind: .failureDetected, jobId: a.job.id, attemptId: a.attemptID,
                nodeId: failure.node, rank: failure.rank,
                message: "\(failure.kind.rawValue) in attempt \(a.number) of \(a.job.id) at step \(a.step.map(String.init) ?? "-"): "
                    + failure.cause + tail,
                payload: EventRecord.payload(payload)))
            try store.setJobState(a.job.id, to: .recovering, reason: failure.description, at: failure.detectedAt)
        }
        runner.note(.text(a.job.id, "attempt \(a.number) of \(a.job.id) failed (\(failure)); stopping its other ranks"))
        // Hung ranks may be stopped (SIGSTOP) or wedged and would only die at the SIGKILL after the grace
        // period; their state is lost anyway.
        signalSurvivors(a, signal: failure.kind == .hang ? SIGKILL : SIGTERM)
    }

    /// Ranks that lose a peer exit with a plain non-zero status, often before the peer's own exit (or its
    /// node's loss) reaches the controller. A later exit by a signal the controller did not send (SIGKILL,
    /// SIGSEGV, …), or a lost node, is the likelier root cause: the failure is re-attributed to it.
    func refineCause(_ a: ActiveAttempt, first: Failure, later: Failure) {
        let firstIsConsequence = first.kind == .rankExit && first.signal == nil
        let laterIsRoot = later.kind == .nodeLost || (later.kind == .rankExit && later.signal != nil && later.signal != SIGTERM)
        guard firstIsConsequence, laterIsRoot else { return }
        var refined = later
        refined.detectedAt = first.detectedAt
        a.failure = refined
        guarded("recording the root cause", job: a.job.id) {
            try store.recordEvent(EventRecord(
                time: Date(), kind: .failureDetected, jobId: a.job.id, attemptId: a.attemptID, nodeId: later.node, rank: later.rank,
                message: "root cause of attempt \(a.number)'s failure: \(later.kind.rawValue): \(later.cause) "
                    + "(the earlier \(first.cause) was a consequence)",
                payload: EventRecord.payload(["kind": later.kind.rawValue, "refines": "true"])))
            try store.setJobState(a.job.id, to: .recovering, reason: refined.description, at: Date())
        }
    }

    /// The pending chaos injection for a job (consumed by its detection).
    func takeInjection(_ job: JobID) -> (Date, String)? {
        guard let (at, what) = injections.removeValue(forKey: job), Date().timeIntervalSince(at) < 120 else { return nil }
        return (at, what)
    }

    /// Every rank of the failed attempt is gone: decide, then fail the job or relaunch after the backoff.
    func recover(_ a: ActiveAttempt, _ failure: Failure) {
        let now = Date()
        let id = a.job.id
        let teardown = now.timeIntervalSince(failure.detectedAt)
        var quarantinedNow: [NodeID: String] = [:]
        if let node = failure.node, failure.kind != .launchError, failure.kind != .checkpointCorrupt {
            if let reason = quarantine.failed(node, kind: failure.kind, at: now, threshold: a.job.spec.failure.quarantineAfter) {
                quarantinedNow[node] = reason
            }
        }
        guarded("recording the teardown", job: id) {
            try store.recordEvent(EventRecord(
                time: now, kind: .recoveryTeardown, jobId: id, attemptId: a.attemptID,
                message: "attempt \(a.number) of \(id): all \(a.placement.worldSize) ranks gone "
                    + String(format: "%.2f s after detection", teardown),
                payload: EventRecord.payload(["teardownSeconds": teardown])))
            if failure.kind == .checkpointCorrupt, let step = try store.attempts(of: id).last?.resumeStep {
                try store.markCheckpointCorrupt(job: id, step: step, reason: failure.cause, at: now)
            }
            for (node, reason) in quarantinedNow { try quarantineNode(node, reason: reason, at: now) }
        }
        var detector = launchErrors[id] ?? LaunchErrorDetector()
        let verdict: LaunchErrorDetector.Verdict
        if failure.kind == .launchError {
            verdict = .deterministic("\(failure.cause) (the program could not start; not restarted)")
        } else if failure.kind == .rankExit, let rank = failure.rank, let node = failure.node {
            let since = now.timeIntervalSince(a.rankStartedAt[rank] ?? a.startedAt)
            let others = freeSlots(for: a.job.spec).contains { $0.id != node && !a.placement.nodes.contains($0.id) }
            verdict = detector.causeExited(rank: rank, node: node, status: failure.exitStatus, signal: failure.signal,
                                           execError: nil, secondsSinceStart: min(since, failure.detectedAt.timeIntervalSince(a.startedAt)),
                                           beforeFirstStep: !a.firstStepRecorded, couldMove: others)
        } else {
            detector.reset()
            verdict = .transient
        }
        launchErrors[id] = detector
        let consecutive = (consecutiveFailures[id] ?? 0) + 1
        consecutiveFailures[id] = consecutive
        let restarts = (try? store.job(id))??.restarts ?? 0
        var decision = RecoveryPlanner.decide(
            failure, verdict: verdict, restarts: restarts, consecutive: consecutive, policy: RestartPolicy(a.job.spec.failure),
            quarantined: Set(quarantined.keys), unit: Double.random(in: 0..<1))
        decision.exclude.formUnion(a.lostNodes)
        guarded("recording the decision", job: id) {
            try store.recordEvent(EventRecord(
                time: now, kind: .recoveryDecision, jobId: id, attemptId: a.attemptID,
                message: "\(id): \(decision.summary)",
                payload: EventRecord.payload(["delaySeconds": decision.delay])))
        }
        runner.note(.text(id, "\(id): \(decision.summary)"))
        switch decision.action {
        case .fail(let cause):
            guarded("failing \(id)", job: id) { try store.setJobState(id, to: .failed, reason: cause, at: now) }
            runner.note(.finished(id, .failed, cause))
            consecutiveFailures[id] = nil
            launchErrors[id] = nil
        case .restart:
            runner.metrics?.restarted(kind: failure.kind.rawValue)
            let context = RecoveryContext(failure: failure, lastStep: a.step, teardownDoneAt: now, summary: decision.summary)
            relaunches[id] = PendingRelaunch(decision: decision, context: context, previous: a.placement)
            guarded("recording the backoff", job: id) {
                try store.setJobState(id, to: .recovering,
                                      reason: String(format: "relaunching in %.2f s after %@", decision.delay, failure.description),
                                      at: now)
            }
            runner.after(.milliseconds(Int64(decision.delay * 1000)), .relaunch(id))
        }
    }

    /// The backoff passed: place the next attempt with the fewest ranks moved (the failed attempt's nodes
    /// minus excluded and no-longer-ready ones, spares first for displaced ranks), or let the job wait.
    func relaunch(_ id: JobID) {
        guard let pending = relaunches.removeValue(forKey: id), !shuttingDown else { return }
        guard let job = (try? store.job(id)) ?? nil, job.state == .recovering else { return }
        let slots = freeSlots(for: job.spec)
        let usable = Set(slots.map(\.id))
        let gone = Set(pending.previous.nodes.filter { !usable.contains($0) })
        let exclude = pending.decision.exclude.union(gone)
        let placer = Placer(job: job.spec)
        var replacement = try? placer.replace(pending.previous, excluding: exclude.union(pending.decision.avoid), nodes: slots)
        if replacement == nil { replacement = try? placer.replace(pending.previous, excluding: exclude, nodes: slots) }
        guard let replacement else {
            let missing = exclude.union(pending.decision.avoid).map(\.rawValue).sorted().joined(separator: ", ")
            let reason = "waiting for nodes to replace \(missing) after \(pending.context.failure)"
            guarded("recording why \(id) waits", job: id) { try store.setJobState(id, to: .pending, reason: reason, at: Date()) }
            runner.note(.text(id, "\(id) \(reason)"))
            waitingRecoveries[id] = (pending.context, pending.previous)
            // A lost node usually comes back within a second (its agent restarts); shrinking is for capacity
            // that stays away, so it is considered only after the grace period.
            if job.spec.failure.minDataParallel != nil { runner.after(Self.shrinkGrace, .reschedule) }
            schedule()
            return
        }
        if !replacement.moved.isEmpty {
            let moves = replacement.moved.map { "rank \($0.rank) \($0.from)→\($0.to)" }.joined(separator: ", ")
            runner.note(.text(id, "\(id): moved \(moves)"))
        }
        launch(job, placement: replacement.placement, recovery: pending.context)
    }

    /// How long a recovering job waits for lost capacity to return before it may shrink.
    static let shrinkGrace = Duration.seconds(5)

    /// A recovering job that waits for nodes: the previous placement re-placed on the ready nodes (spares
    /// included, fewest ranks moved), else shrunk; nil while nothing fits.
    func recoveryPlacement(_ job: JobRecord, previous: Placement, context: RecoveryContext, slots: [NodeSlots]) -> Placement? {
        let usable = Set(slots.map(\.id))
        let gone = Set(previous.nodes.filter { !usable.contains($0) })
        if let r = try? Placer(job: job.spec).replace(previous, excluding: gone, nodes: slots) { return r.placement }
        guard Date().timeIntervalSince(context.failure.detectedAt) >= Self.shrinkGrace.seconds else { return nil }
        return shrink(job, slots: slots, context: context)
    }

    /// With `failure.minDataParallel`, the largest data parallelism at or above it that fits the free nodes
    /// (`recovery.shrink` recorded); nil when the job may not shrink or nothing fits.
    func shrink(_ job: JobRecord, slots: [NodeSlots], context: RecoveryContext) -> Placement? {
        let full = job.spec.parallelism.data
        guard let minimum = job.spec.failure.minDataParallel, minimum < full else { return nil }
        for data in stride(from: full - 1, through: minimum, by: -1) {
            var spec = job.spec
            spec.parallelism.data = data
            guard let placement = try? Placer(job: spec).place(on: slots) else { continue }
            guarded("recording the shrink", job: job.id) {
                try store.recordEvent(EventRecord(
                    time: Date(), kind: .recoveryShrink, jobId: job.id,
                    message: "\(job.id): data parallelism \(full) → \(data) (\(placement.worldSize) ranks on "
                        + "\(placement.nodes.count) nodes) to continue without the lost capacity; it grows back at a "
                        + "checkpoint once nodes return"))
            }
            return placement
        }
        return nil
    }

    /// Whether the job's full layout fits the free nodes plus the shrunken attempt's own.
    func canGrow(_ a: ActiveAttempt) -> Bool {
        (try? Placer(job: a.job.spec).place(on: freeSlots(for: a.job.spec, besides: a))) != nil
    }

    /// A shrunken attempt just committed `step` and the full layout fits again: stop it there.
    func startGrowing(_ a: ActiveAttempt, at step: Int) {
        a.stop = .grow(step: step)
        guarded("recording the grow", job: a.job.id) {
            try store.recordEvent(EventRecord(
                time: Date(), kind: .recoveryGrow, jobId: a.job.id, attemptId: a.attemptID,
                message: "\(a.job.id): nodes are back; stopping attempt \(a.number) at checkpoint \(step) to grow data "
                    + "parallelism \(a.placement.parallelism.data) → \(a.job.spec.parallelism.data)"))
        }
        signalSurvivors(a)
    }

    /// The shrunken attempt is gone: relaunch at the full layout from its newest checkpoint.
    func growBack(_ a: ActiveAttempt) {
        guard let job = (try? store.job(a.job.id)) ?? nil else { return }
        if let placement = try? Placer(job: job.spec).place(on: freeSlots(for: job.spec)) {
            launch(job, placement: placement)
        } else {
            guarded("recording why \(job.id) waits", job: job.id) {
                try store.setJobState(job.id, to: .pending, reason: "waiting for nodes to grow back", at: Date())
            }
            schedule()
        }
    }

    /// The recovering attempt's first step: the time to recover and the lost steps, with each phase.
    func recoveryComplete(_ a: ActiveAttempt, firstStep: Int) {
        guard let r = a.recovery else { return }
        a.recovery = nil
        let now = Date()
        let total = now.timeIntervalSince(r.failure.detectedAt)
        let teardown = r.teardownDoneAt.map { $0.timeIntervalSince(r.failure.detectedAt) } ?? 0
        func between(_ from: Date?, _ to: Date?) -> TimeInterval {
            guard let from, let to else { return 0 }
            return to.timeIntervalSince(from)
        }
        let backoff = between(r.teardownDoneAt, r.relaunchedAt)
        let lastStarted = a.rankStartedAt.values.max()
        let launch = between(r.relaunchedAt, lastStarted)
        let firstStepPhase = lastStarted.map { now.timeIntervalSince($0) } ?? 0
        let lost = max(0, (r.lastStep ?? 0) - (r.resumeStep ?? 0))
        runner.metrics?.recoverySeconds.record(Duration.milliseconds(Int64(total * 1000)))
        let phases: [String: Double] = [
            "recoverySeconds": total, "teardownSeconds": teardown, "backoffSeconds": backoff, "relaunchSeconds": launch,
            "rendezvousRestoreFirstStepSeconds": firstStepPhase, "lostSteps": Double(lost),
            "resumeStep": Double(r.resumeStep ?? 0), "firstStep": Double(firstStep),
        ]
        guarded("recording the recovery", job: a.job.id) {
            try store.recordEvent(EventRecord(
                time: now, kind: .recoveryComplete, jobId: a.job.id, attemptId: a.attemptID,
                message: String(format: "%@ recovered from %@ in %.2f s (teardown %.2f, backoff %.2f, relaunch %.2f, "
                    + "rendezvous + restore + first step %.2f); resumed at step %d, %d steps lost",
                    a.job.id.rawValue, r.failure.kind.rawValue, total, teardown, backoff, launch, firstStepPhase,
                    r.resumeStep ?? 0, lost),
                payload: EventRecord.payload(phases)))
        }
    }

    /// Hang detection, on every tick. On a local cluster a rank the kernel shows as stopped (state T) is
    /// named as the hung one; otherwise the rank silent longest.
    func detectHangs(now: Date) {
        for a in attempts.values where !a.stopping {
            guard var hung = a.hang.stalled(at: now) else { continue }
            if runner.options.local,
               let stopped = a.rankPIDs.first(where: { !a.gone.contains($0.key) && Self.isStopped($0.value) })?.key {
                hung.rank = stopped
            }
            let node = a.placement.ranks[hung.rank].node
            let cause = hung.section.map {
                String(format: "rank %d on %@ stayed in section %@ for %.1f s, past its own timeout of %.0f s (last step %d)",
                       hung.rank, node.rawValue, $0, hung.silentFor, hung.timeout, hung.step)
            } ?? String(format: "rank %d on %@ reported no step for %.1f s (stall timeout %.0f s; last step %d)",
                        hung.rank, node.rawValue, hung.silentFor, hung.timeout, hung.step)
            detect(a, Failure(kind: .hang, node: node, rank: hung.rank, cause: cause, detectedAt: now))
        }
    }

    static func isStopped(_ pid: Int32) -> Bool {
        POSIX.statFields(pid)?.first == "T"
    }

    /// A lost agent on this machine may be stopped or wedged: kill it and the ranks it started, so nothing
    /// of the old attempt outlives it. (An SSH node's own agent does this when its channel closes.)
    func cleanUpLocalNode(_ node: NodeID) {
        guard runner.options.local else { return }
        if let pid = agentPIDs.removeValue(forKey: node) {
            kill(pid, SIGCONT)
            kill(pid, SIGKILL)
        }
        for a in attempts.values {
            for r in a.placement.ranks(on: node) where !a.gone.contains(r.rank) || a.started.contains(r.rank) {
                if let pid = a.rankPIDs[r.rank] { kill(pid, SIGKILL) }
            }
        }
    }

    func quarantineNode(_ node: NodeID, reason: String, at now: Date) throws {
        quarantined[node] = reason
        quarantine.release(node)
        try store.setNodeState(node, to: .quarantined, reason: reason, at: now)
        try store.recordEvent(EventRecord(time: now, kind: .nodeQuarantined, nodeId: node,
                                          message: "\(node) quarantined: \(reason)"))
        runner.note(.text(nil, "\(node) quarantined: \(reason)"))
    }

    func release(_ node: NodeID, reply: CheckedContinuation<Result<String, APIErrorBody>, Never>) {
        guard quarantined.removeValue(forKey: node) != nil else {
            let known = runner.nodes.status(of: node) != nil
            reply.resume(returning: .failure(APIErrorBody(
                error: known ? "node \(node) is not quarantined" : "no node \(node)",
                hint: "`ringmaster nodes` shows each node's state")))
            return
        }
        let state = runner.nodes.status(of: node)?.state ?? .connecting
        guarded("releasing \(node)") {
            try store.setNodeState(node, to: state, reason: "released by an operator", at: Date())
            try store.recordEvent(EventRecord(time: Date(), kind: .nodeReleased, nodeId: node,
                                              message: "\(node) released from quarantine; it is \(state.rawValue)"))
        }
        reply.resume(returning: .success("\(node) released; it is \(state.rawValue)"))
        schedule()
    }
}
