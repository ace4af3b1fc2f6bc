import ControllerAPI
import Foundation
import NodeManager
import RingmasterModel
import StateStore

/// Store records (and the runner's live numbers) → the API's wire types.
enum Views {
    static func job(_ job: JobRecord, runner: JobRunner) -> JobView {
        Self.job(job, facts: (try? runner.store.facts(of: job.id)) ?? JobFacts(), runner: runner)
    }

    /// Every job, newest first (the store's facts of all of them in one read).
    static func jobs(runner: JobRunner) throws -> [JobView] {
        try runner.store.jobsWithFacts().map { Self.job($0.job, facts: $0.facts, runner: runner) }
    }

    static func job(_ job: JobRecord, facts: JobFacts, runner: JobRunner) -> JobView {
        let p = job.spec.parallelism
        let attempts = facts.attempts
        let live = runner.progress(of: job.id)
        let step = live?.step ?? attempts.last.flatMap { facts.reached[$0.id] }
        let goodput = Self.goodput(attempts: attempts, reached: facts.reached, step: step, now: runner.clock.now().wall)
        return JobView(
            id: job.id.rawValue, name: job.name, state: job.state, reason: job.reason, submittedAt: job.submittedAt,
            updatedAt: job.updatedAt, restarts: job.restarts, data: p.data, pipeline: p.pipeline, tensor: p.tensor,
            worldSize: p.worldSize, command: job.spec.command, attempt: attempts.last?.number, step: step,
            checkpoint: facts.newestCommittedStep, goodput: goodput, checkpointDir: CheckpointFolder.layout(of: job)?.directory)
    }

    /// Newest step × the fastest attempt's seconds per step ÷ the time since the first attempt started.
    static func goodput(attempts: [AttemptSummary], reached: [Int64: Int], step: Int?, now: Date) -> Double? {
        guard let step, step > 0, let first = attempts.first else { return nil }
        var fastest: Double?
        for a in attempts {
            guard let reached = reached[a.id] else { continue }
            let done = reached - (a.resumeStep ?? 0)
            let seconds = (a.endedAt ?? now).timeIntervalSince(a.startedAt)
            guard done > 0, seconds > 0 else { continue }
            fastest = min(fastest ?? .infinity, seconds / Double(done))
        }
        guard let fastest else { return nil }
        let end = attempts.last?.endedAt ?? now
        let wall = end.timeIntervalSince(first.startedAt)
        return wall > 0 ? min(1, Double(step) * fastest / wall) : nil
    }

    /// The detail's ranks unless `?ranks=N` asks otherwise: a 4,096-rank job's page stays small and quick.
    static let detailRanks = 256

    static func detail(_ job: JobRecord, runner: JobRunner, ranks limit: Int = detailRanks) throws -> JobDetail {
        let facts = try runner.store.facts(of: job.id)
        let attempts = try runner.store.attemptOverviews(of: job.id)
        var ranks: [RankView] = [], count = 0
        if let newest = attempts.last {
            ranks = try Self.ranks(of: newest.id, newest.parallelism, store: runner.store, offset: 0, limit: limit)
            count = ranks.count < limit ? ranks.count : try runner.store.rankCount(of: newest.id)
        }
        return JobDetail(
            job: Self.job(job, facts: facts, runner: runner),
            attempts: attempts.map {
                AttemptView(number: $0.number, state: $0.state, startedAt: $0.startedAt, endedAt: $0.endedAt,
                            endReason: $0.endReason, resumeStep: $0.resumeStep, nodes: $0.nodes.map(\.rawValue))
            },
            ranks: ranks, rankCount: count)
    }

    /// The newest attempt's ranks from `offset` on (at most `limit`), with their coordinates in its layout.
    static func ranks(of job: JobRecord, runner: JobRunner, offset: Int, limit: Int?) throws -> [RankView] {
        guard let newest = try runner.store.newestAttemptLayout(of: job.id) else { return [] }
        return try ranks(of: newest.id, newest.parallelism, store: runner.store, offset: offset, limit: limit)
    }

    private static func ranks(of attempt: Int64, _ p: Parallelism, store: RingmasterStore, offset: Int, limit: Int?) throws -> [RankView] {
        try store.ranks(of: attempt, offset: offset, limit: limit).map { r in
            let c = p.coordinates(of: r.rank)
            return RankView(rank: r.rank, node: r.nodeId.rawValue, localRank: r.localRank, tp: c.tp, pp: c.pp, dp: c.dp,
                            state: r.state, pid: r.pid, exitStatus: r.exitStatus, exitSignal: r.exitSignal, lastStep: r.lastStep)
        }
    }

    static func nodes(store: RingmasterStore, manager: NodeManager, busy: [NodeID: Int],
                      host: (@Sendable (NodeID) -> String?)? = nil) throws -> [NodeView] {
        let statuses = Dictionary(uniqueKeysWithValues: manager.statuses().map { ($0.entry.id, $0) })
        return try store.nodes().map { n in
            let hello = statuses[n.id]?.hello
            let ready = statuses[n.id]?.state == .ready
            return NodeView(id: n.id.rawValue, host: host?(n.id) ?? n.host, spare: n.spare, state: n.state, reason: n.stateReason,
                            since: n.stateChangedAt, accelerators: n.accelerators, cpus: hello?.host.cpuCount,
                            memoryBytes: hello?.host.memoryBytes, ranks: busy[n.id] ?? 0,
                            agentPID: ready ? hello?.agentPID : nil,
                            warmInterpreters: ready ? statuses[n.id]?.lastHeartbeat?.warmInterpreters : nil)
        }
    }

    static func event(_ e: EventRecord) -> EventView {
        EventView(id: e.id ?? 0, time: e.time, kind: e.kind.rawValue, job: e.jobId?.rawValue, attempt: e.attemptId,
                  node: e.nodeId?.rawValue, rank: e.rank, message: e.message, payload: e.payload)
    }
}
