import FaultPolicy
import Foundation
import Planning
import RingmasterModel

#if canImport(Glibc)
import Glibc
#endif

/// Detection → decision → teardown → relaunch → first step.
extension JobSupervisor {
    /// Records the attempt's first failure, moves the job to `recovering` and stops the other ranks. A
    /// later failure of the same attempt is a consequence of the first, or refines its root cause.
    mutating func detect(_ failure: Failure, _ fleet: inout FleetState) {
        guard var a = attempt else { return }
        guard a.failure == nil, a.stop == nil else {
            if failedDuringRejoin(failure, &fleet) { return }
            if let first = a.failure, a.stop == nil { refineCause(first: first, later: failure, &fleet) }
            return
        }
        a.failure = failure
        phase = .running(a)
        var matched: Injection?
        if let i = injection, fleet.now.timeIntervalSince(i.at) < 120 { matched = i }
        injection = nil
        fleet.record(.failureDetected(failure, step: a.step, injection: matched, lastLines: []),
                     job: id, attempt: a.number, node: failure.node, rank: failure.rank)
        fleet.emit(.setJobState(id, .recovering, reason: failure.description))
        fleet.emit(.note(id, "attempt \(a.number) of \(id) failed (\(failure)); stopping its other ranks"))
        cancelHangTimer(a, &fleet)
        if startRejoin(failure, &fleet) { return }
        // Hung ranks may be stopped (SIGSTOP) or wedged and would only die at the SIGKILL after the grace
        // period; their state is lost anyway.
        signalSurvivors(failure.kind == .hang ? SIGKILL : SIGTERM, &fleet)
    }

    /// Ranks that lose a peer exit with a plain non-zero status, often before the peer's own exit (or its
    /// node's loss) reaches the controller. A later exit by a signal the controller did not send (SIGKILL,
    /// SIGSEGV, …), or a lost node, is the likelier root cause: the failure is re-attributed to it. So is
    /// a hang whose rank's node is then lost: a stopped or wedged agent silences its ranks before its
    /// heartbeats are missed.
    mutating func refineCause(first: Failure, later: Failure, _ fleet: inout FleetState) {
        let silencedByItsNode = first.kind == .hang && later.kind == .nodeLost && first.node != nil && first.node == later.node
        let firstIsConsequence = (first.kind == .rankExit && first.signal == nil) || silencedByItsNode
        let laterIsRoot = later.kind == .nodeLost || (later.kind == .rankExit && later.signal != nil && later.signal != SIGTERM)
        guard firstIsConsequence, laterIsRoot, var a = attempt else { return }
        var refined = later
        refined.detectedAt = first.detectedAt
        a.failure = refined
        phase = .running(a)
        fleet.record(.rootCause(later: later, earlier: first), job: id, attempt: a.number, node: later.node, rank: later.rank)
        fleet.emit(.setJobState(id, .recovering, reason: refined.description))
    }

    func signalOrder(_ a: AttemptRun, _ signal: Int32, _ fleet: FleetState) -> SignalOrder? {
        let live = a.live
        guard !live.isEmpty else { return nil }
        return SignalOrder(job: id, attempt: a.number, ranks: live, signal: signal, grace: fleet.gracePeriod)
    }

    func signalSurvivors(_ signal: Int32, _ fleet: inout FleetState) {
        guard let a = attempt, let order = signalOrder(a, signal, fleet) else { return }
        fleet.emit(.signal(order))
    }

    /// Once every rank of the attempt is gone: the attempt's and the job's states, then what comes next
    /// (recovery, growing back, or nothing).
    mutating func finishIfDone(_ fleet: inout FleetState) {
        guard let a = attempt, a.finished else { return }
        fleet.releaseNodes(of: id)
        fleet.needsSchedule = true
        if a.failure == nil { cancelHangTimer(a, &fleet) }
        switch (a.stop, a.failure) {
        case (.cancelled?, _):
            fleet.emit(.finishAttempt(id, attempt: a.number, .stopped, reason: "job cancelled"))
            end(.cancelled, "cancelled by user", &fleet)
        case (.grow(let step)?, _):
            fleet.emit(.finishAttempt(id, attempt: a.number, .stopped,
                                      reason: "stopped at step \(step) to grow back to data \(spec.parallelism.data)"))
            phase = .pending
            if !fleet.shuttingDown { growBack(&fleet) }
        case (.move(let step)?, _):
            fleet.emit(.finishAttempt(id, attempt: a.number, .stopped,
                                      reason: "stopped at checkpoint step \(step) before its nodes' time limit"))
            let why = "moving off nodes near their time limit; resumes from step \(step)"
            fleet.emit(.setJobState(id, .pending, reason: why))
            reason = why
            phase = .pending
        case (.controllerShutdown?, _):
            fleet.emit(.finishAttempt(id, attempt: a.number, .stopped, reason: "controller shut down"))
            fleet.emit(.setJobState(id, .pending, reason: "controller shut down; resumes when a controller starts again"))
            phase = .done(.pending)
        case (nil, let failure?):
            fleet.emit(.finishAttempt(id, attempt: a.number, .failed, reason: failure.description))
            recover(a, failure, &fleet)
        case (nil, nil):
            fleet.emit(.finishAttempt(id, attempt: a.number, .succeeded, reason: "every rank exited 0"))
            end(.succeeded, nil, &fleet)
        }
        for request in a.cancelRequests { fleet.emit(.answerCancel(request: request, .success(id))) }
    }

    mutating func end(_ state: JobState, _ reason: String?, _ fleet: inout FleetState) {
        fleet.emit(.setJobState(id, state, reason: reason))
        fleet.emit(.finished(id, state, reason: reason))
        fleet.releaseNodes(of: id)
        phase = .done(state)
    }

    /// Every rank of the failed attempt is gone: quarantine, the launch-error verdict, the budget, then
    /// fail the job or restart (at once after a first failure, after a growing backoff when failures
    /// repeat without a checkpoint committed).
    mutating func recover(_ a: AttemptRun, _ failure: Failure, _ fleet: inout FleetState) {
        let now = fleet.now
        fleet.record(.teardown(worldSize: a.placement.worldSize, seconds: now.timeIntervalSince(failure.detectedAt)),
                     job: id, attempt: a.number)
        if failure.kind == .checkpointCorrupt, let step = a.resumeStep {
            corrupt.insert(step)
            committed.remove(step)
            fleet.emit(.markCheckpointCorrupt(id, step: step, reason: failure.cause))
        }
        if let node = failure.node, failure.kind != .launchError, failure.kind != .checkpointCorrupt,
           fleet.node(node)?.quarantine == nil,
           let reason = fleet.quarantine.failed(node, kind: failure.kind, at: now, threshold: spec.failure.quarantineAfter) {
            Supervisor.quarantine(node, reason: reason, &fleet)
        }
        let verdict: LaunchErrorDetector.Verdict
        if failure.kind == .launchError {
            verdict = .deterministic("\(failure.cause) (the program could not start; not restarted)")
        } else if failure.kind == .rankExit, let rank = failure.rank, let node = failure.node {
            let since = failure.detectedAt.timeIntervalSince(a.rankStartedAt[rank] ?? a.launchedAt)
            let others = fleet.freeSlots(for: spec).contains { $0.id != node && !a.placement.nodes.contains($0.id) }
            verdict = launchErrors.causeExited(rank: rank, node: node, status: failure.exitStatus, signal: failure.signal,
                                               execError: nil, secondsSinceStart: since, beforeFirstStep: !a.stepping,
                                               couldMove: others)
        } else {
            launchErrors.reset()
            verdict = .transient
        }
        consecutiveFailures += 1
        var decision = RecoveryPlanner.decide(
            failure, verdict: verdict, restarts: restarts, consecutive: consecutiveFailures,
            policy: RestartPolicy(spec.failure), quarantined: Set(fleet.quarantined.keys), unit: fleet.unit())
        decision.exclude.formUnion(a.lostNodes)
        let restart = if case .restart = decision.action { true } else { false }
        fleet.record(.decision(summary: decision.summary, delay: decision.delay, kind: failure.kind, restart: restart),
                     job: id, attempt: a.number)
        fleet.emit(.note(id, "\(id): \(decision.summary)"))
        switch decision.action {
        case .fail(let cause):
            if let handOff = a.adopted { dropHandOff(handOff, "the job fails", &fleet) }
            end(.failed, cause, &fleet)
        case .restart:
            var context = RecoveryContext(failure: failure, lastStep: a.step, teardownDoneAt: now, summary: decision.summary)
            if let handOff = a.adopted {
                if decision.delay <= 0 {
                    context.rejoin = handOff
                } else {
                    dropHandOff(handOff, String(format: "the restart waits %.2f s (failures in a row back off)", decision.delay),
                                &fleet)
                }
            }
            let recovery = Recovery(context: context, previous: a.placement, exclude: decision.exclude, avoid: decision.avoid)
            phase = .backoff(recovery)
            if decision.delay <= 0 {
                relaunch(&fleet)
            } else {
                fleet.emit(.setJobState(id, .recovering, reason: String(
                    format: "relaunching in %.2f s after %@", decision.delay, failure.description)))
                fleet.emit(.setTimer(.relaunch(id), at: now + decision.delay))
            }
        }
    }

    /// The backoff passed (or there was none): place the next attempt with the fewest ranks moved (the
    /// failed attempt's nodes minus excluded and no-longer-ready ones, spares first for displaced ranks),
    /// or wait for nodes.
    mutating func relaunch(_ fleet: inout FleetState) {
        guard case .backoff(var r) = phase, !fleet.shuttingDown else { return }
        let slots = fleet.freeSlots(for: spec)
        let usable = Set(slots.map(\.id))
        let exclude = r.exclude.union(r.previous.nodes.filter { !usable.contains($0) })
        let placer = Placer(job: spec)
        var replacement = try? placer.replace(r.previous, excluding: exclude.union(r.avoid), nodes: slots)
        if replacement == nil { replacement = try? placer.replace(r.previous, excluding: exclude, nodes: slots) }
        if let handOff = r.context.rejoin {
            let kept = replacement.map { p in handOff.survivors.allSatisfy { p.placement.ranks[$0.rank].node == $0.node } } ?? false
            if !kept {
                dropHandOff(handOff, replacement == nil ? "no nodes can take the lost ranks now"
                    : "the placement moves a survivor to another node", &fleet)
                r.context.rejoin = nil
                phase = .backoff(r)
            }
        }
        guard let replacement else {
            let missing = exclude.union(r.avoid).map(\.rawValue).sorted().joined(separator: ", ")
            let why = "waiting for nodes to replace \(missing) after \(r.context.failure)"
            fleet.emit(.setJobState(id, .pending, reason: why))
            fleet.emit(.note(id, "\(id) \(why)"))
            reason = why
            phase = .waitingForNodes(r)
            // A lost node usually comes back within a second (its agent restarts); shrinking is for capacity
            // that stays away, so it is considered only after the grace period.
            if spec.failure.minDataParallel != nil {
                fleet.emit(.setTimer(.shrink(id), at: max(fleet.now, r.context.failure.detectedAt + fleet.shrinkGrace)))
            }
            fleet.needsSchedule = true
            return
        }
        if !replacement.moved.isEmpty {
            let moves = replacement.moved.map { "rank \($0.rank) \($0.from)→\($0.to)" }.joined(separator: ", ")
            fleet.emit(.note(id, "\(id): moved \(moves)"))
        }
        prepare(replacement.placement, recovery: r.context, &fleet)
    }

    /// The recovering attempt's first step: the time to recover and the lost steps, with each phase.
    func recoveryComplete(_ r: RecoveryContext, attempt a: AttemptRun, firstStep: Int, _ fleet: inout FleetState) {
        let now = fleet.now
        let lastStarted = a.rankStartedAt.values.max()
        let relaunched = r.relaunchedAt ?? a.launchedAt
        let phases = RecoveryPhases(
            total: now.timeIntervalSince(r.failure.detectedAt),
            teardown: r.teardownDoneAt.timeIntervalSince(r.failure.detectedAt),
            backoff: relaunched.timeIntervalSince(r.teardownDoneAt),
            relaunch: lastStarted.map { $0.timeIntervalSince(relaunched) } ?? 0,
            firstStep: lastStarted.map { now.timeIntervalSince($0) } ?? 0,
            lostSteps: max(0, (r.lastStep ?? 0) - (a.resumeStep ?? 0)), resumeStep: a.resumeStep ?? 0, firstStepNumber: firstStep)
        fleet.record(.recoveryComplete(r.failure.kind, phases), job: id, attempt: a.number)
    }

    // MARK: Requests

    mutating func cancel(request: Int, _ fleet: inout FleetState) {
        switch phase {
        case .running(var a):
            a.cancelRequests.append(request)
            let first = a.stop == nil
            if first { a.stop = .cancelled }
            phase = .running(a)
            guard first else { return }
            fleet.emit(.note(id, "cancelling \(id): stopping \(a.live.count) ranks"))
            cancelHangTimer(a, &fleet)
            signalSurvivors(SIGTERM, &fleet)
            finishIfDone(&fleet)
        case .done(let state):
            fleet.emit(.answerCancel(request: request, .failure(SupervisorRefusal(
                "job \(id) already \(state.rawValue)", hint: "only pending or running jobs can be cancelled"))))
        case .backoff, .waitingForNodes, .pending, .preparing:
            if case .backoff = phase { fleet.emit(.cancelTimer(.relaunch(id))) }
            if case .preparing(_, _, let r?) = phase, let handOff = r.rejoin { dropHandOff(handOff, "the job is cancelled", &fleet) }
            if case .waitingForNodes = phase, spec.failure.minDataParallel != nil { fleet.emit(.cancelTimer(.shrink(id))) }
            end(.cancelled, "cancelled by user", &fleet)
            fleet.emit(.answerCancel(request: request, .success(id)))
        }
    }

    /// The controller stops: a live attempt is told to stop (the job resumes at the next start).
    mutating func shutdown(_ fleet: inout FleetState) {
        if case .preparing(_, _, let r?) = phase, let handOff = r.rejoin { dropHandOff(handOff, "the controller shuts down", &fleet) }
        guard var a = attempt, a.stop == nil || a.rejoin != nil else { return }
        if a.rejoin != nil {
            fleet.emit(.cancelTimer(.rejoin(id, attempt: a.number)))
            fleet.record(.rejoinDecided(step: nil, reason: "the controller shuts down"), job: id, attempt: a.number)
            a.rejoin = nil
        }
        a.stop = .controllerShutdown
        phase = .running(a)
        if a.failure == nil { cancelHangTimer(a, &fleet) }
        signalSurvivors(SIGTERM, &fleet)
        finishIfDone(&fleet)
    }
}
