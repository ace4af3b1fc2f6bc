import FaultPolicy
import Foundation
import Planning
import RingmasterModel

/// The fault manager's pure core: every job's `JobSupervisor`, the nodes and quarantine, scheduling.
/// `handle` takes one input and the time and returns the actions, in order; it never reads a clock, a
/// random source (it is given one), a file or the store. `RunnerLoop` is the shell that performs them.
public struct Supervisor: Sendable {
    public private(set) var fleet: FleetState
    public private(set) var jobs: [JobID: JobSupervisor] = [:]
    /// Jobs in submission order (scheduling is oldest first, with backfill).
    public private(set) var order: [JobID] = []
    /// Jobs already final when the controller started, for cancel's answer.
    private var finals: [JobID: JobState] = [:]
    /// Jobs an input changed (only they can have finished), so that each input does not visit every job.
    private var touched: [JobID] = []
    private var stoppedSent = false

    /// - Parameters:
    ///   - random: tokens, the SSH master port and the backoff's jitter (the system's CSPRNG in
    ///     production; seeded in tests).
    ///   - inspectsRanks: ranks run on this machine, so a stopped one can be told from a silent one.
    public init(random: any RandomNumberGenerator & Sendable, inspectsRanks: Bool, gracePeriod: Duration = .seconds(3),
                shrinkGrace: TimeInterval = 5, now: Instant) {
        fleet = FleetState(random: random, inspectsRanks: inspectsRanks, gracePeriod: gracePeriod, shrinkGrace: shrinkGrace,
                           now: now)
    }

    public mutating func handle(_ input: SupervisorInput, now: Instant) -> [SupervisorAction] {
        fleet.now = max(fleet.now, now)
        fleet.actions = []
        fleet.needsSchedule = false
        dispatch(input)
        if fleet.needsSchedule, !fleet.shuttingDown { schedule() }
        reportVacated()
        if fleet.shuttingDown, !stoppedSent, !jobs.values.contains(where: { $0.attempt != nil }) {
            stoppedSent = true
            fleet.emit(.stopped)
        }
        // Finished jobs leave the table (their state is in the store).
        for id in touched {
            guard let job = jobs[id], case .done(let state) = job.phase else { continue }
            finals[id] = state
            jobs[id] = nil
            order.removeAll { $0 == id }
        }
        touched.removeAll(keepingCapacity: true)
        return fleet.actions
    }

    /// Changes the job in place: a copy taken out of `jobs` would share its attempt's tables with the one left
    /// in, and the first change would copy them all (per rank report, quadratic in the ranks).
    private mutating func withJob(_ id: JobID, _ body: (inout JobSupervisor, inout FleetState) -> Void) {
        guard jobs[id] != nil else { return }
        body(&jobs[id]!, &fleet)
        touched.append(id)
    }

    private mutating func dispatch(_ input: SupervisorInput) {
        switch input {
        case .restored(let state): restore(state)
        case .submitted(let snapshot):
            guard jobs[snapshot.id] == nil else { return }
            jobs[snapshot.id] = JobSupervisor(snapshot)
            order.append(snapshot.id)
            fleet.needsSchedule = true
        case .node(let id, let state, let cause, let accelerators): nodeChanged(id, state, cause: cause, accelerators: accelerators)
        case .cancel(let id, let request):
            if jobs[id] != nil {
                withJob(id) { $0.cancel(request: request, &$1) }
            } else if let state = finals[id] {
                fleet.emit(.answerCancel(request: request, .failure(SupervisorRefusal(
                    "job \(id) already \(state.rawValue)", hint: "only pending or running jobs can be cancelled"))))
            } else {
                fleet.emit(.answerCancel(request: request, .failure(SupervisorRefusal(
                    "no job \(id)", hint: "`ringmaster jobs` lists them"))))
            }
        case .release(let node, let request): release(node, request: request)
        case .prepared(let id, let attempt, let check): withJob(id) { $0.prepared(attempt: attempt, check, &$1) }
        case .launchFailed(let id, let attempt, let error): withJob(id) { $0.launchFailed(attempt: attempt, error: error, &$1) }
        case .launchDeferred(let id, let attempt, let error): withJob(id) { $0.launchDeferred(attempt: attempt, error: error, &$1) }
        case .launched(let id, let attempt, let rendezvous, let undelivered):
            withJob(id) { $0.launched(attempt: attempt, rendezvous: rendezvous, undelivered: undelivered, &$1) }
        case .rankStarted(let rank): withJob(rank.job) { $0.rankStarted(rank, &$1) }
        case .rankExited(let rank, let node, let status, let signal, let error):
            withJob(rank.job) { $0.rankExited(rank, node: node, status: status, signal: signal, error: error, &$1) }
        case .rankUnreachable(let rank):
            guard let node = jobs[rank.job]?.attempt.flatMap({ a in
                a.owns(rank, job: rank.job) && rank.rank < a.placement.worldSize ? a.placement.ranks[rank.rank].node : nil
            }) else { return }
            withJob(rank.job) { $0.rankUnreachable(rank, node: node, &$1) }
        case .step(let rank, let step): withJob(rank.job) { $0.stepped(rank, step: step, &$1) }
        case .checkpointReported(let rank, let step): withJob(rank.job) { $0.checkpointReported(rank, step: step, &$1) }
        case .checkpointFailed(let rank, let step, let reason):
            withJob(rank.job) { $0.checkpointFailed(rank, step: step, reason: reason, &$1) }
        case .held(let rank, let step, let digest):
            withJob(rank.job) { $0.held(rank, HeldState(step: step, digest: digest), &$1) }
        case .checkpointCommitted(let id, let step, let error):
            withJob(id) { $0.checkpointCommitted(step: step, error: error, &$1) }
        case .sectionOpened(let rank, let name, let seconds):
            withJob(rank.job) { $0.section(rank, opened: (name, seconds), &$1) }
        case .sectionEnded(let rank): withJob(rank.job) { $0.section(rank, opened: nil, &$1) }
        case .inspected(let id, let attempt, let stopped): withJob(id) { $0.inspected(attempt: attempt, stopped: stopped, &$1) }
        case .injected(let id, let what):
            let at = fleet.now
            withJob(id) { job, _ in job.injection = Injection(what: what, at: at) }
        case .timer(let timer): fire(timer)
        case .timeLimit(let nodes, let cause):
            let known = nodes.filter { fleet.node($0) != nil }
            for node in known where fleet.expiring[node] == nil { fleet.expiring[node] = cause }
            fleet.emit(.note(nil, "time limit near on \(known.map(\.rawValue).joined(separator: ", ")): \(cause)"))
            for id in order { withJob(id) { $0.timeLimitApproaching(Set(known), cause: cause, &$1) } }
        case .shutdown:
            guard !fleet.shuttingDown else { return }
            fleet.shuttingDown = true
            let running = jobs.values.filter { $0.attempt != nil }.count
            fleet.emit(.note(nil, "shutting down: stopping \(running) running attempt(s)"))
            for id in order { withJob(id) { $0.shutdown(&$1) } }
        }
    }

    /// Expiring nodes no attempt holds any more, once each.
    private mutating func reportVacated() {
        let free = fleet.expiring.keys.filter { fleet.reserved[$0] == nil && !fleet.vacated.contains($0) }
        guard !free.isEmpty else { return }
        fleet.vacated.formUnion(free)
        fleet.emit(.vacated(free.sorted { $0.rawValue < $1.rawValue }))
    }

    private mutating func fire(_ timer: TimerID) {
        switch timer {
        case .relaunch(let id): withJob(id) { $0.relaunchTimer(&$1) }
        case .hang(let id, let attempt): withJob(id) { $0.hangTimer(attempt: attempt, &$1) }
        case .shrink: fleet.needsSchedule = true
        case .rejoin(let id, let attempt): withJob(id) { $0.rejoinTimer(attempt: attempt, &$1) }
        }
    }

    /// Places pending jobs and waiting recoveries, oldest first; younger jobs that fit the remaining nodes
    /// may start before an older one that does not (backfill).
    private mutating func schedule() {
        for id in order where jobs[id]?.mayBePlaced(fleet) == true { withJob(id) { $0.schedule(&$1) } }
    }

    // MARK: Nodes

    private mutating func nodeChanged(_ id: NodeID, _ state: NodeState, cause: String, accelerators: [Accelerator]?) {
        guard let before = fleet.node(id) else { return }
        fleet.update(id) { n in
            n.state = state
            if let accelerators { n.entry.accelerators = accelerators }
        }
        // A quarantined node keeps that state in the store until released, whatever its agent does.
        if before.quarantine == nil { fleet.emit(.setNodeState(id, state, reason: cause)) }
        fleet.emit(.note(nil, "node \(id): \(before.state?.rawValue ?? "-") → \(state.rawValue) (\(cause))"))
        if state == .lost || state == .unreachable {
            // An expiring node that is lost comes back elsewhere (a new allocation): placeable again.
            fleet.expiring[id] = nil
            fleet.vacated.remove(id)
            // Ranks of the node that may outlive its agent: every live one, and every one that ever started.
            var ranks: [RankRef] = []
            for job in order {
                guard let a = jobs[job]?.attempt else { continue }
                for r in a.placement.ranks(on: id) where !a.gone.contains(r.rank) || a.started.contains(r.rank) {
                    ranks.append(RankRef(job: job, attempt: a.number, rank: r.rank))
                }
            }
            fleet.emit(.cleanUpNode(id, ranks: ranks))
            for job in order { withJob(job) { $0.nodeLost(id, state: state, cause: cause, &$1) } }
        }
        if state == .ready { fleet.needsSchedule = true }
        for job in order { withJob(job) { $0.refreshWarmSpares(&$1) } }
    }

    /// Excludes `node` until an operator releases it.
    static func quarantine(_ node: NodeID, reason: String, _ fleet: inout FleetState) {
        fleet.update(node) { $0.quarantine = reason }
        fleet.quarantine.release(node)
        fleet.emit(.setNodeState(node, .quarantined, reason: reason))
        fleet.record(.quarantined(reason: reason), node: node)
        fleet.emit(.note(nil, "\(node) quarantined: \(reason)"))
    }

    private mutating func release(_ node: NodeID, request: Int) {
        guard let n = fleet.node(node), n.quarantine != nil else {
            let known = fleet.node(node) != nil
            fleet.emit(.answerRelease(request: request, .failure(SupervisorRefusal(
                known ? "node \(node) is not quarantined" : "no node \(node)", hint: "`ringmaster nodes` shows each node's state"))))
            return
        }
        fleet.update(node) { $0.quarantine = nil }
        let state = n.state ?? .connecting
        fleet.emit(.setNodeState(node, state, reason: "released by an operator"))
        fleet.record(.released(state: state), node: node)
        fleet.emit(.answerRelease(request: request, .success("\(node) released; it is \(state.rawValue)")))
        fleet.needsSchedule = true
    }

    // MARK: Restart

    /// The store's state at start-up: quarantined nodes stay quarantined; attempts the previous
    /// controller left open end as failed (their agents stopped the ranks when its channels closed) and
    /// their jobs wait to run again from the newest committed checkpoint.
    private mutating func restore(_ state: RestoredState) {
        fleet.setNodes(state.nodes.map { n in
            var n = n
            n.state = nil
            return n
        })
        for var job in state.jobs {
            if job.state.isFinal {
                finals[job.id] = job.state
                continue
            }
            if job.state == .running || job.state == .recovering {
                for attempt in state.openAttempts[job.id] ?? [] {
                    fleet.emit(.closeStaleAttempt(job.id, attempt: attempt,
                                                  reason: "the controller stopped while it ran (its agents stopped the ranks)"))
                }
                let why = "controller restarted; relaunching from the newest checkpoint"
                fleet.emit(.setJobState(job.id, .pending, reason: why))
                fleet.emit(.note(job.id, "\(job.id) was running when the previous controller stopped; it will run again"))
                job.state = .pending
                job.reason = why
            }
            jobs[job.id] = JobSupervisor(job)
            order.append(job.id)
        }
        fleet.needsSchedule = true
    }
}

extension Supervisor {
    /// A number from the supervisor's random source (chaos picks when no seed is given).
    public mutating func draw() -> UInt64 { fleet.random.next() }
}
