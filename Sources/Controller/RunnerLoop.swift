import AgentProtocol
import Checkpointing
import ControllerAPI
import FaultPolicy
import Foundation
import NodeManager
import RingmasterModel
import StateStore
import Supervision

/// The shell of the fault manager: runs on its own thread, turns node events, agent messages, API
/// requests and its timers into `Supervisor` inputs, and performs the actions that come back (agents,
/// store, files). It never decides: every decision is the supervisor's. A failing store write is
/// reported, never fatal.
final class RunnerLoop {
    let runner: JobRunner
    var core: Supervisor
    /// Per job, the live attempt's store row, rendezvous and pids.
    var resources: [JobID: AttemptResources] = [:]
    /// Per job, the newest attempt's number and store row (events about it come after it ended).
    var attemptRows: [JobID: (number: Int, id: Int64)] = [:]
    /// Timers the supervisor set, by deadline.
    var timers: [TimerID: Instant] = [:]
    var cancelReplies: [Int: CheckedContinuation<Result<JobView, APIErrorBody>, Never>] = [:]
    var releaseReplies: [Int: CheckedContinuation<Result<String, APIErrorBody>, Never>] = [:]
    var nextRequest = 0
    /// The newest agent pid of each node (local clusters clean up after a lost agent).
    var agentPIDs: [NodeID: Int32] = [:]
    /// Inputs the shell produced while performing actions (answers to prepare, launch, commit…).
    var followUps: [SupervisorInput] = []
    var nextFlush: Instant
    var done = false
    /// Store writes held back while the store cannot be written.
    let journal: StoreJournal
    /// Rank starts not yet written, per attempt row: written together when the inbox runs dry, before any other
    /// write (so the store sees them in order), or every 1,024.
    var pendingStarts: [Int64: (job: JobID, starts: [RankStart])] = [:]
    /// The same for rank exits (written after the starts: a rank exits after it started).
    var pendingExits: [Int64: (job: JobID, exits: [RankExit])] = [:]
    /// Starts and exits pending.
    var startsPending = 0
    /// Per job with `warm:`, its interpreter kind and the nodes that keep a pool of it.
    var warmPools: [JobID: (kind: WarmSpec, nodes: Set<NodeID>)] = [:]

    init(runner: JobRunner) {
        self.runner = runner
        let store = runner.store
        let note = runner.note
        journal = StoreJournal(
            logDirectory: runner.options.stateDirectory.logs, log: { job, text in note(.text(job, text)) },
            lockHeld: { store.writeLockHeldElsewhere() },
            ended: { report in
                try store.recordEvent(EventRecord(time: runner.clock.now().wall, kind: .storeWriteFailed, message: report.message,
                                                  payload: EventRecord.payload(report.payload)))
            })
        let now = runner.clock.now()
        core = Supervisor(random: runner.random, inspectsRanks: runner.options.local, gracePeriod: runner.options.gracePeriod,
                          now: now)
        nextFlush = now + 1
    }

    var store: RingmasterStore { runner.store }
    var now: Instant { runner.clock.now() }

    /// Runs until the supervisor says everything stopped.
    func run() {
        supervise(.restored(restoredState()))
        while !done {
            let deadline = [timers.values.min(), nextFlush].compactMap { $0 }.min()!
            let wait = deadline.timeIntervalSince(now)
            if wait > 0, let input = runner.inbox.take(within: wait) {
                handle(input)
            }
            if startsPending > 0, runner.inbox.isEmpty { flushStarts() }
            fireDueTimers()
        }
    }

    /// Feeds one input to the supervisor and performs its actions, then any follow-up inputs they made.
    func supervise(_ input: SupervisorInput) {
        followUps.append(input)
        while !followUps.isEmpty {
            let next = followUps.removeFirst()
            for action in core.handle(next, now: now) { perform(action) }
        }
    }

    func handle(_ input: RunnerInput) {
        switch input {
        case .node(let e): nodeChanged(e)
        case .message(let m): message(m)
        case .submitted(let job):
            supervise(.submitted(JobSnapshot(id: job.id, spec: job.spec, reason: job.reason,
                                             importFrom: job.spec.checkpoint?.resumeFrom)))
        case .cancel(let id, let reply):
            nextRequest += 1
            cancelReplies[nextRequest] = reply
            supervise(.cancel(id, request: nextRequest))
        case .release(let node, let reply):
            nextRequest += 1
            releaseReplies[nextRequest] = reply
            supervise(.release(node, request: nextRequest))
        case .chaos(let id, let request, let reply): chaos(id, request, reply: reply)
        case .pruned(let id, let steps):
            runner.note(.text(id, "pruned checkpoint steps \(steps.map(String.init).joined(separator: ", "))"))
        case .timeLimit(let nodes, let cause): supervise(.timeLimit(nodes, cause: cause))
        case .shutdown: supervise(.shutdown)
        }
    }

    func fireDueTimers() {
        let now = self.now
        if now >= nextFlush {
            nextFlush = now + 1
            journal.logLinesLost(runner.logs.takeFailedLines(), error: runner.logs.lastFailure ?? "")
            journal.retryIfDue(now: now)
            flushProgress(now: now)
        }
        for (id, at) in timers.sorted(by: { $0.value < $1.value }) where at <= now {
            timers[id] = nil
            supervise(.timer(id))
        }
    }

    /// Runs `body`, turning a store error into a note instead of a crash.
    func guarded(_ what: String, job: JobID? = nil, _ body: () throws -> Void) {
        do { try body() } catch { runner.note(.text(job, "\(what) failed: \(error)")) }
    }

    /// A store write, given the time it happened: made now, or — while the store cannot be written (a full
    /// disk, a lock another process holds) — kept in order and made later (`StoreJournal`). Any other
    /// failure is a note, never a crash.
    func write(_ what: String, job: JobID? = nil, _ body: @escaping (Date) throws -> Void) {
        flushStarts()
        let at = now.wall
        journal.perform(what, job: job, now: now) { try body(at) }
    }

    // MARK: Inputs

    func nodeChanged(_ e: NodeEvent) {
        let hello = runner.nodes.status(of: e.node)?.hello
        if e.to == .ready, let hello {
            agentPIDs[e.node] = hello.agentPID
            write("recording \(e.node)'s accelerators") { [store] _ in try store.updateAccelerators(e.node, hello.accelerators) }
        }
        supervise(.node(e.node, e.to, cause: e.cause, accelerators: e.to == .ready ? hello?.accelerators : nil))
    }

    func message(_ m: NodeMessage) {
        switch m.message {
        case .started(let s):
            if let r = attempt(for: s.rank) {
                r.rankPIDs[s.rank.rank] = s.pid
                pendingStarts[r.attemptID, default: (r.job.id, [])].starts.append(RankStart(rank: s.rank.rank, pid: s.pid, at: now.wall))
                startsPending += 1
                if startsPending >= 1024 { flushStarts() }
            }
            supervise(.rankStarted(s.rank))
        case .exited(let e):
            if let r = attempt(for: e.rank) {
                pendingExits[r.attemptID, default: (r.job.id, [])].exits.append(
                    RankExit(rank: e.rank.rank, status: e.status, signal: e.signal, at: now.wall))
                startsPending += 1
                if startsPending >= 1024 { flushStarts() }
            }
            supervise(.rankExited(e.rank, node: m.node, status: e.status, signal: e.signal, error: e.error))
        case .log(let batch):
            guard let r = attempt(for: batch.rank) else { return }
            runner.logs.append(job: r.job.id, attempt: r.number, rank: batch.rank.rank, lines: batch.lines)
            for line in batch.lines { runner.note(.rankOutput(r.job.id, rank: batch.rank.rank, line)) }
            if batch.droppedBytes > 0 {
                runner.note(.rankOutput(r.job.id, rank: batch.rank.rank,
                                        "(\(batch.droppedBytes) bytes not streamed; see the agent's log file)"))
            }
        case .progress(let p):
            if let name = p.metric, let value = p.value, let r = attempt(for: p.rank) {
                r.metric(name, value, rank: p.rank.rank, at: now.wall)
            }
            guard let step = p.step else { return }
            stepped(p.rank, step: step, loss: p.metric == "loss" ? p.value : nil)
        case .steps(let batch):
            for report in batch.reports { stepped(report.rank, step: report.step!, loss: nil) }
        case .checkpoint(let c):
            if let failure = c.failure {
                supervise(.checkpointFailed(c.rank, step: c.step, reason: failure))
            } else {
                supervise(.checkpointReported(c.rank, step: c.step))
            }
        case .section(let report):
            if let name = report.name, let seconds = report.seconds {
                supervise(.sectionOpened(report.rank, name: name, seconds: seconds))
            } else {
                supervise(.sectionEnded(report.rank))
            }
        case .held(let h):
            supervise(.held(h.rank, step: h.step, digest: h.digest))
        case .hello, .heartbeat, .error:
            break
        }
    }

    /// A rank's `step N` (a `progress` of its own, or one of a `steps` batch).
    func stepped(_ rank: RankRef, step: Int, loss: Double?) {
        if let r = attempt(for: rank) {
            r.unsavedSteps[rank.rank] = max(r.unsavedSteps[rank.rank] ?? step, step)
            r.newestSteps[rank.rank] = step
            if rank.rank == r.progressRank {
                r.step = max(r.step ?? step, step)
                publish(r)
                runner.note(.step(r.job.id, step: step, loss: loss))
            }
        }
        supervise(.step(rank, step: step))
    }

    func attempt(for rank: RankRef) -> AttemptResources? {
        guard let r = resources[rank.job], r.owns(rank) else { return nil }
        return r
    }

    func publish(_ r: AttemptResources) {
        runner.live.withLock { $0[r.job.id] = LiveProgress(attempt: r.number, step: r.step, stepsPerSecond: r.stepsPerSecond) }
    }

    /// Once a second: the ranks' newest steps to the store, steps/s.
    func flushProgress(now: Instant) {
        for r in resources.values {
            if r.sampleRate(now: now) {
                r.unsavedSamples[AttemptResources.stepsPerSecondSeries, default: []]
                    .append(SeriesSample(time: now.wall, step: r.step, value: r.stepsPerSecond))
            }
            flushSteps(r, now: now)
            publish(r)
            runner.metrics?.stepsPerSecond(job: r.job.id, r.stepsPerSecond)
        }
    }

    /// The ranks' newest steps (and metric samples) to the store. While the store cannot be written the steps
    /// stay unsaved (the next flush supersedes them) — except when the attempt ends (`keep`): then they wait
    /// with the other writes. Metric samples that cannot be written are dropped (the series is downsampled
    /// anyway); a failure to write them starts the journal's outage like any other write.
    func flushSteps(_ r: AttemptResources, now: Instant, keep: Bool = false) {
        flushStarts()
        if !r.unsavedSamples.isEmpty {
            let samples = r.unsavedSamples
            r.unsavedSamples = [:]
            let store = self.store
            journal.perform("recording metric series", job: r.job.id, now: now, keep: false) {
                try store.appendSeries(job: r.job.id, samples)
            }
        }
        guard !r.unsavedSteps.isEmpty else { return }
        let steps = r.unsavedSteps
        let (store, attemptID, at) = (self.store, r.attemptID, now.wall)
        r.unsavedSteps = [:]
        let written = journal.perform("recording progress", job: r.job.id, now: now, keep: keep) {
            try store.recordRankSteps(attempt: attemptID, steps: steps, at: at)
        }
        if !written, !keep { r.unsavedSteps.merge(steps) { max($0, $1) } }
    }

    /// The batched rank starts, then exits, to the store: one transaction per attempt each.
    func flushStarts() {
        guard startsPending > 0 else { return }
        let (starts, exits) = (pendingStarts, pendingExits)
        pendingStarts = [:]
        pendingExits = [:]
        startsPending = 0
        for (attemptID, batch) in starts {
            journal.perform("recording \(batch.starts.count) rank start(s)", job: batch.job, now: now) { [store] in
                try store.recordRanksStarted(attempt: attemptID, batch.starts)
            }
        }
        for (attemptID, batch) in exits {
            journal.perform("recording \(batch.exits.count) rank exit(s)", job: batch.job, now: now) { [store] in
                try store.recordRanksExited(attempt: attemptID, batch.exits)
            }
        }
    }

    /// The store's state at start-up, for the supervisor.
    func restoredState() -> RestoredState {
        var jobs: [JobSnapshot] = []
        var open: [JobID: [Int]] = [:]
        var nodes: [NodeSnapshot] = []
        guarded("reading the store at start-up") {
            let stored = Dictionary(uniqueKeysWithValues: try store.nodes().map { ($0.id, $0) })
            nodes = runner.nodes.statuses().map { status in
                let record = stored[status.entry.id]
                let quarantine = record?.state == .quarantined
                    ? record?.stateReason ?? "quarantined before the controller restarted" : nil
                return NodeSnapshot(entry: status.entry, state: status.state, quarantine: quarantine)
            }
            for job in try store.jobs().reversed() {
                guard !job.state.isFinal else {
                    jobs.append(JobSnapshot(id: job.id, spec: job.spec, state: job.state))
                    continue
                }
                let attempts = try store.attempts(of: job.id)
                open[job.id] = attempts.filter { !$0.state.isFinal }.map(\.number)
                let checkpoints = try store.checkpoints(of: job.id)
                jobs.append(JobSnapshot(
                    id: job.id, spec: job.spec, state: job.state, reason: job.reason, restarts: job.restarts,
                    attempts: attempts.map(\.number).max() ?? 0,
                    committed: checkpoints.filter { $0.state == .committed }.map(\.step),
                    importFrom: checkpoints.isEmpty ? job.spec.checkpoint?.resumeFrom : nil))
            }
        }
        return RestoredState(jobs: jobs, nodes: nodes, openAttempts: open)
    }
}
