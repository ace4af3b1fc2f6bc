import AgentProtocol
import Checkpointing
import ControllerAPI
import Foundation
import NodeManager
import RingmasterModel
import StateStore
import SystemUtilities
import Supervision

#if canImport(Glibc)
import Glibc
#endif

/// The shell's half of each supervisor action: agents, store, files. Nothing here decides.
extension RunnerLoop {
    func perform(_ action: SupervisorAction) {
        switch action {
        case .record(let event): record(event)
        case .note(let job, let text): runner.note(.text(job, text))
        case .setJobState(let id, let state, let reason):
            write("moving \(id) to \(state.rawValue)", job: id) { [store] at in try store.setJobState(id, to: state, reason: reason, at: at) }
        case .finished(let id, let state, let reason):
            dropWarmPools(of: id)
            runner.note(.finished(id, state, reason))
        case .waiting(let id, let reason): runner.note(.waiting(id, reason))
        case .setNodeState(let node, let state, let reason):
            write("recording \(node) \(state.rawValue)") { [store] at in try store.setNodeState(node, to: state, reason: reason, at: at) }
            // A quarantined node keeps that state until released: any other state of it is a release.
            runner.options.quarantined?(node, state == .quarantined)
        case .prepareLaunch(let preparation): prepare(preparation)
        case .launch(let order): launch(order)
        case .sizeWarmPools(let order): resizeWarmPools(order)
        case .signal(let order): signal(order)
        case .requestCheckpoint(let order):
            for r in order.ranks {
                let ref = RankRef(job: order.job, attempt: order.attempt, rank: r.rank)
                if !runner.nodes.send(.checkpointNow(CheckpointNowRequest(rank: ref, step: order.step)), to: r.node) {
                    runner.note(.text(order.job, "checkpoint-now for rank \(r.rank) not sent: \(r.node) has no open channel"))
                }
            }
        case .abandon(let order):
            let milliseconds = Int(order.deadline.seconds * 1000)
            for r in order.ranks {
                let ref = RankRef(job: order.job, attempt: order.attempt, rank: r.rank)
                if !runner.nodes.send(.abandon(AbandonRequest(rank: ref, deadlineMilliseconds: milliseconds)), to: r.node) {
                    runner.note(.text(order.job, "abandon for rank \(r.rank) not sent: \(r.node) has no open channel"))
                }
            }
        case .vacated(let nodes): runner.options.vacated?(nodes)
        case .finishAttempt(let id, let number, let state, let reason): finishAttempt(id, number, state, reason)
        case .closeStaleAttempt(let id, let number, let reason):
            write("ending attempt \(number) of \(id)", job: id) { [store] at in
                if let row = try store.attempts(of: id).first(where: { $0.number == number })?.id {
                    try store.finishAttempt(row, as: .failed, reason: reason, at: at)
                }
            }
        case .commitCheckpoint(let id, let number, let step, let worldSize): commit(id, number, step, worldSize)
        case .pruneCheckpoints(let id, let committed, let partial): prune(id, committed: committed, partial: partial)
        case .markCheckpointCorrupt(let id, let step, let reason):
            write("marking step \(step) corrupt", job: id) { [store] at in
                try store.markCheckpointCorrupt(job: id, step: step, reason: reason, at: at)
            }
        case .cleanUpNode(let node, let ranks): cleanUpLocalNode(node, ranks: ranks)
        case .inspectRanks(let id, let number, let ranks):
            let pids = resources[id].flatMap { $0.number == number ? $0.rankPIDs : nil } ?? [:]
            let stopped = ranks.filter { pids[$0].map(Self.isStopped) ?? false }
            followUps.append(.inspected(id, attempt: number, stopped: stopped))
        case .setTimer(let id, let at): timers[id] = at
        case .cancelTimer(let id): timers[id] = nil
        case .answerCancel(let request, let result):
            guard let reply = cancelReplies.removeValue(forKey: request) else { return }
            switch result {
            case .success(let id):
                let view = (try? store.job(id)).flatMap { $0 }.map { Views.job($0, runner: runner) }
                reply.resume(returning: view.map { .success($0) } ?? .failure(APIErrorBody(error: "job \(id) is gone")))
            case .failure(let refusal): reply.resume(returning: .failure(APIErrorBody(error: refusal.error, hint: refusal.hint)))
            }
        case .answerRelease(let request, let result):
            guard let reply = releaseReplies.removeValue(forKey: request) else { return }
            reply.resume(returning: result.mapError { APIErrorBody(error: $0.error, hint: $0.hint) })
        case .stopped: done = true
        }
    }

    /// An event row: the supervisor's words, the attempt's row id, and for a failure the failing rank's
    /// last lines from its log. Metrics come from the same events.
    func record(_ event: SupervisorEvent) {
        var event = event
        if case .failureDetected(let failure, let step, let injection, _) = event.detail, let job = event.job,
           let number = event.attempt, let rank = failure.rank {
            let lines = LogBook.lastLines(of: runner.logs.path(job: job, attempt: number, rank: rank), 5)
            event.detail = .failureDetected(failure, step: step, injection: injection, lastLines: lines)
        }
        switch event.detail {
        case .failureDetected(let failure, _, let injection?, _):
            let latency = failure.detectedAt.timeIntervalSince(injection.at)
            runner.metrics?.detectionSeconds.record(Duration.milliseconds(Int64(latency * 1000)))
        case .decision(_, _, let kind, true): runner.metrics?.restarted(kind: kind.rawValue)
        case .recoveryComplete(_, let phases):
            runner.metrics?.recoverySeconds.record(Duration.milliseconds(Int64(phases.total * 1000)))
        default: break
        }
        let attemptID = event.job.flatMap { attemptRows[$0] }.flatMap { $0.number == event.attempt ? $0.id : nil }
        write("recording \(event.kind.rawValue)", job: event.job) { [store] _ in
            try store.recordEvent(EventRecord(
                time: event.time.wall, kind: event.kind, jobId: event.job, attemptId: attemptID, nodeId: event.node,
                rank: event.rank, message: event.message,
                payload: event.payload.isEmpty ? nil : EventRecord.payload(event.payload)))
        }
    }

    func signal(_ order: SignalOrder) {
        let grace = Int(order.grace.seconds * 1000)
        for r in order.ranks {
            let ref = RankRef(job: order.job, attempt: order.attempt, rank: r.rank)
            if !runner.nodes.send(.signal(SignalRequest(rank: ref, signal: order.signal, graceMilliseconds: grace)), to: r.node) {
                followUps.append(.rankUnreachable(ref))
            }
        }
    }

    func finishAttempt(_ id: JobID, _ number: Int, _ state: AttemptState, _ reason: String) {
        guard let r = resources[id], r.number == number else { return }
        resources[id] = nil
        runner.placements.withLock { $0[id] = nil }
        r.rendezvous.shutdown()
        flushSteps(r, now: now, keep: true)
        runner.logs.attemptEnded(job: id, attempt: number)
        runner.live.withLock { $0[id] = nil }
        runner.metrics?.jobEnded(id)
        write("ending attempt \(number)", job: id) { [store] at in
            try store.finishAttempt(r.attemptID, as: state, reason: reason, at: at)
        }
    }

    /// Writes the step's COMMITTED marker and store row, and tells the supervisor. A step is committed in
    /// both or in neither: when the store cannot record it (its disk is full, its lock held), a marker just
    /// written is taken back.
    func commit(_ id: JobID, _ number: Int, _ step: Int, _ worldSize: Int) {
        guard let r = resources[id], r.number == number, let layout = r.layout else {
            followUps.append(.checkpointCommitted(id, step: step, error: "the attempt is gone"))
            return
        }
        let at = now.wall
        do {
            try journal.ready(now: now)
        } catch {
            followUps.append(.checkpointCommitted(id, step: step, error: "\(error)"))
            return
        }
        let hadMarker = FileManager.default.fileExists(atPath: layout.commitMarker(step))
        do {
            try CommitMarker.write(layout, step: step, worldSize: worldSize, job: r.job.identity, at: at)
        } catch {
            followUps.append(.checkpointCommitted(id, step: step, error: "\(error)"))
            return
        }
        do {
            try store.commitCheckpoint(job: id, attempt: r.attemptID, step: step, dir: layout.stepDirectory(step), at: at)
            followUps.append(.checkpointCommitted(id, step: step, error: nil))
        } catch {
            if !hadMarker { CommitMarker.withdraw(layout, step: step) }
            journal.failed(error, what: "recording checkpoint step \(step) of \(id)", now: now)
            followUps.append(.checkpointCommitted(id, step: step, error: "\(error)"))
        }
    }

    /// Deletes steps on the disk queue (a step of many files must not hold the loop), then marks them
    /// pruned in the store. Only steps the supervisor named are touched.
    func prune(_ id: JobID, committed: [Int], partial: [Int]) {
        guard let job = resources[id]?.job ?? (try? store.job(id)) ?? nil, let layout = CheckpointFolder.layout(of: job),
              let keep = job.spec.checkpoint?.keep
        else { return }
        let store = self.store
        let inbox = runner.inbox
        let clock = runner.clock
        runner.disk.async {
            let removed = CommitMarker.prune(layout, keep: keep, committed: Set(committed), written: Set(partial))
            guard !removed.isEmpty else { return }
            try? store.markCheckpointsPruned(job: id, steps: removed.filter(committed.contains), at: clock.now().wall)
            inbox.post(.pruned(id, removed))
        }
    }

    static func isStopped(_ pid: Int32) -> Bool {
        POSIX.statFields(pid)?.first == "T"
    }

    /// A lost agent on this machine may be stopped or wedged: kill it and the ranks it started, so nothing
    /// of the old attempt outlives it. (An SSH node's own agent does this when its channel closes.)
    func cleanUpLocalNode(_ node: NodeID, ranks: [RankRef]) {
        guard runner.options.local else { return }
        if let pid = agentPIDs.removeValue(forKey: node) {
            kill(pid, SIGCONT)
            kill(pid, SIGKILL)
        }
        for ref in ranks {
            if let pid = resources[ref.job].flatMap({ $0.number == ref.attempt ? $0.rankPIDs[ref.rank] : nil }) {
                kill(pid, SIGKILL)
            }
        }
    }
}
