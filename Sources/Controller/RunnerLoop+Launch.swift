import AgentProtocol
import Checkpointing
import Collectives
import FaultPolicy
import Foundation
import NodeManager
import Planning
import RingmasterModel
import StateStore
import SystemUtilities

extension RunnerLoop {
    /// After a restart: quarantined nodes are read back from the store; attempts the previous controller
    /// left open end as failed (their agents stopped the ranks when the controller's channels closed), and
    /// their jobs wait to run again from the newest committed checkpoint. Then every pending job is tried.
    func resumeAfterRestart() {
        guarded("reading quarantined nodes") {
            // A quarantined node stays quarantined across a controller restart, until released.
            for node in try store.nodes() where node.state == .quarantined {
                quarantined[node.id] = node.stateReason ?? "quarantined before the controller restarted"
            }
        }
        guarded("resuming jobs after a restart") {
            for job in try store.jobs() where job.state == .running || job.state == .recovering {
                for attempt in try store.attempts(of: job.id) where !attempt.state.isFinal {
                    try store.finishAttempt(
                        attempt.id!, as: .failed,
                        reason: "the controller stopped while it ran (its agents stopped the ranks)", at: Date())
                }
                try store.setJobState(job.id, to: .pending,
                                      reason: "controller restarted; relaunching from the newest checkpoint", at: Date())
                runner.note(.text(job.id, "\(job.id) was running when the previous controller stopped; it will run again"))
            }
        }
    }

    /// The committed step a new attempt resumes from: the newest one the store recorded as committed for
    /// this job, not marked corrupt, whose COMMITTED marker is on disk and names this job; nil for a fresh
    /// start. A step whose marker names another job is marked corrupt (an event says why) and skipped.
    func resumeStep(for job: JobRecord) throws -> Int? {
        guard let layout = CheckpointFolder.layout(of: job) else { return nil }
        for record in try store.checkpoints(of: job.id) where record.state == .committed {
            guard let problem = CheckpointFolder.markerProblem(layout, step: record.step, job: job) else { return record.step }
            if CommitMarker.read(layout, step: record.step) != nil {
                try store.markCheckpointCorrupt(job: job.id, step: record.step, reason: problem, at: Date())
            }
        }
        return nil
    }

    /// A job with `checkpoint.resumeFrom` and no checkpoint of its own yet: the earlier job's step, imported
    /// into this job's folder (verified again) for its first launch; nil otherwise.
    func importedResumeStep(for job: JobRecord) throws -> Int? {
        guard let source = job.spec.checkpoint?.resumeFrom, let layout = CheckpointFolder.layout(of: job),
              try store.checkpoints(of: job.id).isEmpty
        else { return nil }
        return try CheckpointFolder.importStep(from: source, into: layout, job: job, at: Date())
    }

    /// Nodes that are ready, not quarantined and not used by an active attempt (other than `own`), with
    /// the accelerators their agents reported.
    func freeSlots(for spec: JobSpec, besides own: ActiveAttempt? = nil) -> [NodeSlots] {
        let busy = Set(attempts.values.filter { $0 !== own }.flatMap(\.placement.nodes))
        return runner.nodes.statuses().filter {
            $0.state == .ready && !busy.contains($0.entry.id) && quarantined[$0.entry.id] == nil
        }.map { status in
            var entry = status.entry
            if let hello = status.hello { entry.accelerators = hello.accelerators }
            return NodeSlots(node: entry, resources: spec.resources)
        }
    }

    /// Places and launches pending jobs, oldest first; a job that does not fit keeps waiting with its
    /// reason, and younger jobs that fit the remaining nodes may start before it (backfill).
    func schedule() {
        guard !shuttingDown else { return }
        let pending: [JobRecord]
        do { pending = try store.jobs().filter { $0.state == .pending }.reversed() } catch {
            runner.note(.text(nil, "reading pending jobs failed: \(error)"))
            return
        }
        for job in pending where attempts[job.id] == nil {
            let slots = freeSlots(for: job.spec)
            if let waiting = waitingRecoveries[job.id] {
                // A recovery waiting for nodes keeps its previous placement (and may use spares).
                if let placement = recoveryPlacement(job, previous: waiting.previous, context: waiting.context, slots: slots) {
                    waitingRecoveries[job.id] = nil
                    launch(job, placement: placement, recovery: waiting.context)
                }
                continue
            }
            do {
                let placement = try Placer(job: job.spec).place(on: slots)
                launch(job, placement: placement)
            } catch {
                let ready = slots.count
                let reason = "waiting for nodes: \(error.message) (\(ready) free ready node\(ready == 1 ? "" : "s"))"
                // While nodes are still coming up the reason would only be noise.
                let settling = runner.nodes.statuses().contains { $0.state == nil || $0.state == .connecting }
                if !settling { runner.note(.waiting(job.id, reason)) }
                guard job.reason != reason, !settling else { continue }
                guarded("recording why \(job.id) waits", job: job.id) {
                    try store.setJobState(job.id, to: .pending, reason: reason, at: Date())
                    try store.recordEvent(EventRecord(time: Date(), kind: .jobWaiting, jobId: job.id,
                                                      message: "\(job.id) \(reason)"))
                }
            }
        }
    }

    /// Persists the attempt, opens its rendezvous and sends `launch` for every rank.
    func launch(_ job: JobRecord, placement: Placement, recovery: RecoveryContext? = nil) {
        let options = runner.options
        do {
            let imported = try importedResumeStep(for: job)
            let resume = try imported ?? resumeStep(for: job)
            let token = AttemptToken.generate()
            let number = (try store.attempts(of: job.id).last?.number ?? 0) + 1
            let rendezvous = try RendezvousServer(attempt: number, token: token.rawValue, worldSize: placement.worldSize,
                                                  host: options.rendezvousHost)
            let record = try store.startAttempt(job.id, placement: placement, token: token, resumeStep: resume, at: Date())
            if let imported, let source = job.spec.checkpoint?.resumeFrom, let layout = CheckpointFolder.layout(of: job) {
                try store.commitCheckpoint(job: job.id, attempt: record.id!, step: imported, dir: layout.stepDirectory(imported),
                                           at: Date(), importedFrom: source)
            }
            let attempt = ActiveAttempt(job: job, attempt: record, rendezvous: rendezvous, startedAt: Date())
            if var recovery {
                recovery.relaunchedAt = Date()
                recovery.resumeStep = resume
                attempt.recovery = recovery
            }
            attempts[job.id] = attempt
            runner.placements.withLock { $0[job.id] = placement }
            runner.logs.attemptStarted(job: job.id, attempt: record.number)
            publish(attempt)
            let statuses = Dictionary(uniqueKeysWithValues: runner.nodes.statuses().map { ($0.entry.id, $0) })
            if recovery != nil {
                try store.recordEvent(EventRecord(
                    time: Date(), kind: .recoveryRelaunch, jobId: job.id, attemptId: record.id,
                    message: "attempt \(record.number) of \(job.id) relaunched on \(placement.nodes.map(\.rawValue).joined(separator: ", "))"
                        + ", rendezvous \(rendezvous.address), " + (resume.map { "restoring step \($0)" } ?? "fresh start (no checkpoint)")))
            }
            let kinds = statuses.mapValues { $0.hello?.accelerators.first?.kind ?? .simulated }
            let rank0Node = placement.ranks[0].node
            let masterAddress = options.local ? "127.0.0.1" : (statuses[rank0Node]?.entry.host ?? "127.0.0.1")
            let masterPort = options.local ? POSIX.freeLoopbackPort() : Int.random(in: 20000..<30000)
            let environment = RankEnvironment(
                job: job.id, spec: job.spec, attempt: record.number, placement: placement, token: token,
                rendezvous: rendezvous.address, masterAddress: masterAddress, masterPort: masterPort, resumeStep: resume,
                acceleratorKinds: kinds, base: baseEnvironment(), checkpointDirectory: CheckpointFolder.layout(of: job)?.directory)
            for r in placement.ranks {
                let request = LaunchRequest(
                    rank: RankRef(job: job.id, attempt: record.number, rank: r.rank), argv: job.spec.command,
                    env: environment.variables(rank: r.rank), cwd: job.spec.workdir,
                    logDir: agentLogDirectory(job: job.id, attempt: record.number, node: r.node))
                if !runner.nodes.send(.launch(request), to: r.node) {
                    attempt.gone.insert(r.rank)
                    attempt.lostNodes.insert(r.node)
                    detect(attempt, Failure(kind: .nodeLost, node: r.node, rank: r.rank,
                                            cause: "node \(r.node) has no open channel for rank \(r.rank)", detectedAt: Date()))
                }
            }
            runner.note(.text(job.id, "attempt \(record.number) of \(job.id): launched \(placement.worldSize) ranks on "
                + "\(placement.nodes.count) nodes (rendezvous \(rendezvous.address))"
                + (resume.map { ", resuming from step \($0)" } ?? "")))
            finishIfDone(attempt)
        } catch {
            runner.note(.text(job.id, "launching \(job.id) failed: \(error)"))
            guarded("failing \(job.id)", job: job.id) {
                try store.setJobState(job.id, to: .failed, reason: "launch failed: \(error)", at: Date())
            }
            runner.note(.finished(job.id, .failed, "launch failed: \(error)"))
        }
    }

    /// Where the node's agent keeps the ranks' raw stdout/stderr: the state directory on a local cluster,
    /// the login directory's `.ringmaster/logs` on SSH nodes.
    func agentLogDirectory(job: JobID, attempt: Int, node: NodeID) -> String {
        runner.options.local
            ? "\(runner.options.stateDirectory.logDirectory(job: job.rawValue, attempt: attempt))/agent-\(node)"
            : ".ringmaster/logs/\(job)/attempt-\(attempt)"
    }

    /// PATH with Ringmaster's own executables first, plus HOME and LANG from the controller.
    func baseEnvironment() -> [String: String] {
        let env = ProcessInfo.processInfo.environment
        var base: [String: String] = [
            "PATH": runner.options.binDirectory + ":" + (env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
        ]
        for key in ["HOME", "LANG", "USER", "TMPDIR"] { if let v = env[key] { base[key] = v } }
        return base
    }
}
