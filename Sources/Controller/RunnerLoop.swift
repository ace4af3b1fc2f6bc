import AgentProtocol
import Checkpointing
import ControllerAPI
import FaultPolicy
import Foundation
import NodeManager
import RingmasterModel
import StateStore

#if canImport(Glibc)
import Glibc
#endif

/// The state of `JobRunner.run()`: active attempts by job. Only the runner's loop touches it, one input
/// at a time, so it needs no locks. Store writes are short; a failing one is reported, never fatal.
final class RunnerLoop {
    let runner: JobRunner
    var attempts: [JobID: ActiveAttempt] = [:]
    /// Jobs whose next attempt waits for its backoff to pass.
    var relaunches: [JobID: PendingRelaunch] = [:]
    /// Recovering jobs that went back to `pending` for want of nodes: their recovery continues at launch.
    var waitingRecoveries: [JobID: (context: RecoveryContext, previous: Placement)] = [:]
    /// Per job: the launch-error detector and failures in a row without a checkpoint committed.
    var launchErrors: [JobID: LaunchErrorDetector] = [:]
    var consecutiveFailures: [JobID: Int] = [:]
    var quarantine = QuarantineTracker(threshold: 3)
    /// Nodes excluded until an operator releases them, with the reason.
    var quarantined: [NodeID: String] = [:]
    /// The newest agent pid of each node (local clusters clean up after a lost agent).
    var agentPIDs: [NodeID: Int32] = [:]
    /// Chaos injections not yet matched by a detection, per job: when and what, for detection latency.
    var injections: [JobID: (Date, String)] = [:]
    var ticks = 0
    var shuttingDown = false
    var done = false

    init(runner: JobRunner) { self.runner = runner }

    var store: RingmasterStore { runner.store }

    func handle(_ input: RunnerInput) {
        switch input {
        case .node(let e): nodeChanged(e)
        case .message(let m): message(m)
        case .submitted: schedule()
        case .cancel(let id, let reply): cancel(id, reply: reply)
        case .tick: tick()
        case .relaunch(let id): relaunch(id)
        case .reschedule: schedule()
        case .release(let node, let reply): release(node, reply: reply)
        case .chaos(let id, let request, let reply): chaos(id, request, reply: reply)
        case .shutdown: shutdown()
        }
    }

    /// Runs `body`, turning a store error into a note instead of a crash.
    func guarded(_ what: String, job: JobID? = nil, _ body: () throws -> Void) {
        do { try body() } catch { runner.note(.text(job, "\(what) failed: \(error)")) }
    }

    // MARK: Nodes

    func nodeChanged(_ e: NodeEvent) {
        let hello = runner.nodes.status(of: e.node)?.hello
        if e.to == .ready, let hello { agentPIDs[e.node] = hello.agentPID }
        guarded("recording \(e.node) \(e.to.rawValue)") {
            // A quarantined node keeps that state until released, whatever its agent does.
            if quarantined[e.node] == nil {
                try store.setNodeState(e.node, to: e.to, reason: e.cause, at: e.timestamp)
            }
            if e.to == .ready, let hello { try store.updateAccelerators(e.node, hello.accelerators) }
        }
        runner.note(.text(nil, "node \(e.node): \(e.from?.rawValue ?? "-") → \(e.to.rawValue) (\(e.cause))"))
        if e.to == .lost || e.to == .unreachable {
            cleanUpLocalNode(e.node)
            for attempt in attempts.values {
                let lost = attempt.placement.ranks(on: e.node).map(\.rank).filter { !attempt.gone.contains($0) }
                guard !lost.isEmpty else { continue }
                attempt.gone.formUnion(lost)
                attempt.lostNodes.insert(e.node)
                detect(attempt, Failure(kind: .nodeLost, node: e.node, cause: "node \(e.node) \(e.to.rawValue): \(e.cause)",
                                        detectedAt: e.timestamp))
                finishIfDone(attempt)
            }
        }
        if e.to == .ready { schedule() }
    }

    // MARK: Agent messages

    func message(_ m: NodeMessage) {
        switch m.message {
        case .started(let s):
            guard let a = attempt(for: s.rank) else { return }
            a.started.insert(s.rank.rank)
            a.rankStartedAt[s.rank.rank] = Date()
            a.rankPIDs[s.rank.rank] = s.pid
            guarded("recording rank \(s.rank.rank) start", job: a.job.id) {
                try store.recordRankStarted(attempt: a.attemptID, rank: s.rank.rank, pid: s.pid, at: Date())
            }
        case .exited(let e):
            guard let a = attempt(for: e.rank), !a.gone.contains(e.rank.rank) else { return }
            a.gone.insert(e.rank.rank)
            guarded("recording rank \(e.rank.rank) exit", job: a.job.id) {
                try store.recordRankExited(attempt: a.attemptID, rank: e.rank.rank, status: e.status, signal: e.signal,
                                           at: Date())
            }
            a.hang.exited(rank: e.rank.rank, at: Date())
            if !e.succeeded, a.stop == nil {
                let how = e.error ?? e.signal.map { "killed by signal \($0)" } ?? "exit status \(e.status ?? -1)"
                let kind: FailureKind = e.error != nil ? .launchError
                    : e.status == CheckpointError.corruptExitCode ? .checkpointCorrupt : .rankExit
                detect(a, Failure(kind: kind, node: m.node, rank: e.rank.rank, exitStatus: e.status, signal: e.signal,
                                  cause: "rank \(e.rank.rank) on \(m.node): \(how)", detectedAt: Date()))
            }
            finishIfDone(a)
        case .log(let batch):
            guard let a = attempt(for: batch.rank) else { return }
            runner.logs.append(job: a.job.id, attempt: a.number, rank: batch.rank.rank, lines: batch.lines)
            for line in batch.lines { runner.note(.rankOutput(a.job.id, rank: batch.rank.rank, line)) }
            if batch.droppedBytes > 0 {
                runner.note(.rankOutput(a.job.id, rank: batch.rank.rank,
                                        "(\(batch.droppedBytes) bytes not streamed; see the agent's log file)"))
            }
        case .progress(let p):
            guard let a = attempt(for: p.rank), let step = p.step else { return }
            a.unsavedSteps[p.rank.rank] = max(a.unsavedSteps[p.rank.rank] ?? step, step)
            a.hang.stepped(rank: p.rank.rank, step: step, at: Date())
            if !a.firstStepRecorded {
                a.firstStepRecorded = true
                guarded("recording the first step", job: a.job.id) {
                    try store.recordEvent(EventRecord(
                        time: Date(), kind: .attemptStepping, jobId: a.job.id, attemptId: a.attemptID, nodeId: m.node,
                        rank: p.rank.rank,
                        message: "attempt \(a.number) of \(a.job.id): first step \(step) reported by rank \(p.rank.rank), "
                            + String(format: "%.2f s after launch", Date().timeIntervalSince(a.startedAt))))
                }
                recoveryComplete(a, firstStep: step)
            }
            if p.rank.rank == a.progressRank {
                a.step = max(a.step ?? step, step)
                publish(a)
                runner.note(.step(a.job.id, step: step, loss: p.metric == "loss" ? p.value : nil))
            }
        case .checkpoint(let c):
            guard let a = attempt(for: c.rank), let step = a.commits.report(rank: c.rank.rank, step: c.step),
                  let layout = a.layout, let keep = a.job.spec.checkpoint?.keep
            else { return }
            guarded("committing checkpoint step \(step)", job: a.job.id) {
                try CommitMarker.write(layout, step: step, worldSize: a.placement.worldSize, job: a.job.identity, at: Date())
                try store.commitCheckpoint(job: a.job.id, attempt: a.attemptID, step: step,
                                           dir: layout.stepDirectory(step), at: Date())
                consecutiveFailures[a.job.id] = 0
                // Only steps the store recorded for this job (and this attempt's own partial ones) are pruned.
                let committed = Set(try store.checkpoints(of: a.job.id).filter { $0.state == .committed }.map(\.step))
                let pruned = CommitMarker.prune(layout, keep: keep, committed: committed, written: Set(a.commits.incomplete))
                try store.markCheckpointsPruned(job: a.job.id, steps: pruned.filter(committed.contains), at: Date())
                if a.shrunken, canGrow(a) { startGrowing(a, at: step) }
                runner.note(.text(a.job.id, "checkpoint step \(step) committed"
                    + (pruned.isEmpty ? "" : "; pruned steps \(pruned.map(String.init).joined(separator: ", "))")))
            }
        case .section(let report):
            guard let a = attempt(for: report.rank) else { return }
            if let name = report.name, let seconds = report.seconds {
                a.hang.sectionOpened(rank: report.rank.rank, name: name, seconds: seconds, at: Date())
            } else {
                a.hang.sectionEnded(rank: report.rank.rank, at: Date())
            }
        case .hello, .heartbeat, .error:
            break
        }
    }

    func attempt(for rank: RankRef) -> ActiveAttempt? {
        guard let a = attempts[rank.job], a.owns(rank) else { return nil }
        return a
    }

    func publish(_ a: ActiveAttempt) {
        runner.live.withLock { $0[a.job.id] = LiveProgress(attempt: a.number, step: a.step, stepsPerSecond: a.stepsPerSecond) }
    }

    // MARK: Periodic work

    func tick() {
        let now = Date()
        detectHangs(now: now)
        ticks += 1
        guard ticks % 4 == 0 else { return }
        for a in attempts.values {
            if !a.unsavedSteps.isEmpty {
                let steps = a.unsavedSteps
                a.unsavedSteps = [:]
                guarded("recording progress", job: a.job.id) {
                    try store.recordRankSteps(attempt: a.attemptID, steps: steps, at: now)
                }
            }
            a.sampleRate(now: now)
            publish(a)
            runner.metrics?.stepsPerSecond(job: a.job.id, a.stepsPerSecond)
        }
    }

    // MARK: Stopping


    func signalSurvivors(_ a: ActiveAttempt, signal: Int32 = SIGTERM) {
        let grace = Int(runner.options.gracePeriod.seconds * 1000)
        for r in a.placement.ranks where !a.gone.contains(r.rank) {
            let ref = RankRef(job: a.job.id, attempt: a.number, rank: r.rank)
            if !runner.nodes.send(.signal(SignalRequest(rank: ref, signal: signal, graceMilliseconds: grace)), to: r.node) {
                // No channel to that node: its agent is gone and took the rank with it.
                a.gone.insert(r.rank)
            }
        }
    }

    func cancel(_ id: JobID, reply: CheckedContinuation<Result<JobView, APIErrorBody>, Never>) {
        if let a = attempts[id] {
            a.cancelReplies.append(reply)
            guard a.stop == nil else { return }
            a.stop = .cancelled
            runner.note(.text(id, "cancelling \(id): stopping \(a.placement.worldSize - a.gone.count) ranks"))
            signalSurvivors(a)
            finishIfDone(a)
            return
        }
        do {
            guard let job = try store.job(id) else {
                reply.resume(returning: .failure(APIErrorBody(error: "no job \(id)", hint: "`ringmaster jobs` lists them")))
                return
            }
            guard !job.state.isFinal else {
                reply.resume(returning: .failure(APIErrorBody(
                    error: "job \(id) already \(job.state.rawValue)", hint: "only pending or running jobs can be cancelled")))
                return
            }
            let cancelled = try store.setJobState(id, to: .cancelled, reason: "cancelled by user", at: Date())
            relaunches[id] = nil
            waitingRecoveries[id] = nil
            runner.note(.finished(id, .cancelled, "cancelled by user"))
            reply.resume(returning: .success(Views.job(cancelled, runner: runner)))
        } catch {
            reply.resume(returning: .failure(APIErrorBody(error: "cancelling \(id) failed: \(error)")))
        }
    }

    func shutdown() {
        guard !shuttingDown else { return }
        shuttingDown = true
        runner.note(.text(nil, "shutting down: stopping \(attempts.count) running attempt(s)"))
        for a in attempts.values where a.stop == nil {
            a.stop = .controllerShutdown
            signalSurvivors(a)
        }
        for a in Array(attempts.values) { finishIfDone(a) }
        if attempts.isEmpty { done = true }
    }

    /// Once every rank of the attempt is gone: the attempt's and job's final states, then the next jobs.
    func finishIfDone(_ a: ActiveAttempt) {
        guard a.finished, attempts[a.job.id] === a else { return }
        attempts[a.job.id] = nil
        runner.placements.withLock { $0[a.job.id] = nil }
        a.rendezvous.shutdown()
        tick(flushing: a)
        runner.logs.attemptEnded(job: a.job.id, attempt: a.number)
        runner.live.withLock { $0[a.job.id] = nil }
        runner.metrics?.jobEnded(a.job.id)
        let now = Date()
        var final: (JobState, String?)?
        guarded("ending attempt \(a.number)", job: a.job.id) {
            switch (a.stop, a.failure) {
            case (.cancelled?, _):
                try store.finishAttempt(a.attemptID, as: .stopped, reason: "job cancelled", at: now)
                try store.setJobState(a.job.id, to: .cancelled, reason: "cancelled by user", at: now)
                final = (.cancelled, "cancelled by user")
            case (.grow(let step)?, _):
                try store.finishAttempt(a.attemptID, as: .stopped,
                                        reason: "stopped at step \(step) to grow back to data \(a.job.spec.parallelism.data)", at: now)
            case (.controllerShutdown?, _):
                try store.finishAttempt(a.attemptID, as: .stopped, reason: "controller shut down", at: now)
                try store.setJobState(a.job.id, to: .pending,
                                      reason: "controller shut down; resumes when a controller starts again", at: now)
            case (nil, let failure?):
                try store.finishAttempt(a.attemptID, as: .failed, reason: failure.description, at: now)
            case (nil, nil):
                try store.finishAttempt(a.attemptID, as: .succeeded, reason: "every rank exited 0", at: now)
                try store.setJobState(a.job.id, to: .succeeded, reason: nil, at: now)
                final = (.succeeded, nil)
            }
        }
        if let final { runner.note(.finished(a.job.id, final.0, final.1)) }
        if a.stop == nil, let failure = a.failure { recover(a, failure) }
        if case .grow? = a.stop, !shuttingDown { growBack(a) }
        let view = (try? store.job(a.job.id)).flatMap { $0 }.map { Views.job($0, runner: runner) }
        for reply in a.cancelReplies {
            reply.resume(returning: view.map { .success($0) } ?? .failure(APIErrorBody(error: "job \(a.job.id) is gone")))
        }
        if shuttingDown {
            if attempts.isEmpty { done = true }
        } else {
            schedule()
        }
    }

    private func tick(flushing a: ActiveAttempt) {
        guard !a.unsavedSteps.isEmpty else { return }
        let steps = a.unsavedSteps
        a.unsavedSteps = [:]
        guarded("recording progress", job: a.job.id) { try store.recordRankSteps(attempt: a.attemptID, steps: steps, at: Date()) }
    }
}
