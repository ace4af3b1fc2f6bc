import FaultPolicy
import Foundation
import RingmasterModel
import Supervision
import Testing

/// Random interleavings of every input the supervisor takes, against a fake cluster that behaves like the
/// real one (ranks exit when signalled, lost nodes take their ranks, the controller restarts from what it
/// stored), with the invariants checked after every input. A failure names the seed and the step: rerun
/// with `RINGMASTER_SIMULATION_SEED=<seed>`.
@Suite struct SimulationTests {
    static let inputsPerRun = 12_000

    @Test func randomInterleavingsKeepTheInvariants() throws {
        let seeds: [UInt64] = ProcessInfo.processInfo.environment["RINGMASTER_SIMULATION_SEED"].flatMap { UInt64($0) }.map { [$0] }
            ?? [1, 2, 3]
        for seed in seeds {
            var sim = Simulation(seed: seed)
            sim.run(inputs: Self.inputsPerRun)
            #expect(sim.violations.isEmpty, "seed \(seed): \(sim.violations.prefix(5).joined(separator: "\n"))")
            #expect(sim.inputs >= Self.inputsPerRun, "seed \(seed)")
            // The run exercised what it is meant to (not only steps).
            #expect(sim.count("failure.detected") > 50 && sim.count("recovery.complete") > 20, "seed \(seed): \(sim.kinds)")
        }
    }
}

/// The fake cluster and the invariants.
struct Simulation {
    var rng: SplitMix64
    let seed: UInt64
    var core: Supervisor
    var t: Double = 0
    var inputs = 0
    var violations: [String] = []
    var kinds: [String: Int] = [:]

    // The fake cluster.
    let nodeIDs: [NodeID] = (0..<5).map { NodeID("n\($0)") }
    var ready: Set<NodeID> = []
    var timers: [TimerID: Instant] = [:]
    /// Live attempts as the agents see them: job → (attempt, placement, live ranks, next step).
    var live: [JobID: (attempt: Int, placement: Placement, ranks: Set<Int>, step: Int)] = [:]
    /// Ranks told to stop, by job: they exit on a later input.
    var stopping: [JobID: Set<Int>] = [:]
    var nextJob = 0
    var request = 0

    // What the store would hold.
    var jobStates: [JobID: JobState] = [:]
    var specs: [JobID: JobSpec] = [:]
    var restarts: [JobID: Int] = [:]
    var attempts: [JobID: Int] = [:]
    var committed: [JobID: Set<Int>] = [:]
    var corrupt: [JobID: Set<Int>] = [:]
    var quarantined: [NodeID: String] = [:]
    var openAttempts: [JobID: Set<Int>] = [:]

    // Invariant bookkeeping.
    var decisions: [JobID: Int] = [:]
    var decidedAttempts: Set<String> = []
    /// Per job: a failure detected and not yet ended (by recovery-complete, failure, cancel or a newer failure).
    var openFailure: [JobID: Int] = [:]
    var lastEventTime: [JobID: Instant] = [:]

    init(seed: UInt64) {
        self.seed = seed
        rng = SplitMix64(seed: seed)
        core = Supervisor(random: SplitMix64(seed: seed &+ 1), inspectsRanks: false, now: Harness.instant(0))
        restart()
    }

    var now: Instant { Harness.instant(t) }
    func count(_ kind: String) -> Int { kinds[kind] ?? 0 }

    mutating func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(max(n, 1))) }
    mutating func chance(_ p: Double) -> Bool { rng.unit() < p }

    mutating func fail(_ what: String) {
        violations.append("seed \(seed), input \(inputs), t=\(String(format: "%.3f", t)): \(what)")
    }

    // MARK: Driving

    mutating func run(inputs count: Int) {
        while inputs < count && violations.isEmpty {
            randomInput()
        }
        heal()
    }

    mutating func send(_ input: SupervisorInput) {
        var queue = [input]
        while let next = queue.first {
            queue.removeFirst()
            inputs += 1
            for action in core.handle(next, now: now) { queue += perform(action) }
            checkInvariants()
        }
    }

    mutating func randomInput() {
        t += Double(pick(50)) / 1000
        let roll = pick(100)
        switch roll {
        case 0..<3:
            if jobStates.values.filter({ !$0.isFinal }).count < 3 { submit() }
        case 3..<45: stepSomeJob()
        case 45..<53: checkpointSomeJob()
        case 53..<60: exitStopping()
        case 60..<64: failSomeRank()
        case 64..<67: loseNode()
        case 67..<72: bringNodeBack()
        case 72..<80: fireTimer()
        case 80..<81: cancelSomeJob()
        case 81..<82: restart()
        case 82..<83: releaseSomeNode()
        default: exitStopping()
        }
    }

    /// Ends the run: nodes back, timers fired, ranks stepping until every job finishes; then every
    /// detected failure must have ended.
    mutating func heal() {
        for n in nodeIDs where !ready.contains(n) { nodeReady(n) }
        for n in quarantined.keys.sorted(by: { $0.rawValue < $1.rawValue }) {
            request += 1
            send(.release(n, request: request))
        }
        var rounds = 0
        while jobStates.values.contains(where: { !$0.isFinal }) && rounds < 2000 && violations.isEmpty {
            rounds += 1
            t += 0.2
            exitStopping()
            fireDue()
            for job in live.keys.sorted(by: { $0.rawValue < $1.rawValue }) {
                guard let l = live[job] else { continue }
                if l.step > 40 {
                    for r in l.ranks.sorted() { exitRank(job, r, status: 0, signal: nil, error: nil) }
                } else {
                    step(job)
                }
            }
        }
        if let open = jobStates.first(where: { !$0.value.isFinal }) { fail("job \(open.key) never finished: \(open.value)") }
        for (job, _) in openFailure { fail("a failure of \(job) never ended") }
    }

    mutating func fireDue() {
        while let (id, at) = timers.min(by: { $0.value < $1.value }), at <= now {
            timers[id] = nil
            send(.timer(id))
        }
    }

    mutating func fireTimer() {
        guard let (id, at) = timers.min(by: { $0.value < $1.value }) else { return }
        t = max(t, at.monotonic.seconds)
        timers[id] = nil
        send(.timer(id))
    }

    mutating func submit() {
        nextJob += 1
        let id = JobID("job-\(nextJob)")
        let data = 1 + pick(2)
        let spec = Harness.spec("job", data: data, tensor: 1 + pick(2), maxRestarts: 3 + pick(5),
                                backoff: .milliseconds(Int64(100 * pick(4))),
                                stall: chance(0.5) ? .auto : .fixed(.seconds(2)), quarantineAfter: 2 + pick(3),
                                minData: data > 1 && chance(0.5) ? 1 : nil)
        specs[id] = spec
        jobStates[id] = .pending
        send(.submitted(JobSnapshot(id: id, spec: spec)))
    }

    mutating func someLive() -> JobID? {
        let jobs = live.keys.sorted { $0.rawValue < $1.rawValue }
        return jobs.isEmpty ? nil : jobs[pick(jobs.count)]
    }

    mutating func step(_ job: JobID) {
        guard var l = live[job] else { return }
        l.step += 1
        live[job] = l
        for r in l.ranks.sorted() where !(stopping[job]?.contains(r) ?? false) {
            send(.step(RankRef(job: job, attempt: l.attempt, rank: r), step: l.step))
        }
    }

    mutating func stepSomeJob() {
        if let job = someLive() { step(job) }
    }

    mutating func checkpointSomeJob() {
        guard let job = someLive(), let l = live[job] else { return }
        // Sometimes only some ranks report (a partial step).
        let ranks = chance(0.8) ? l.ranks.sorted() : Array(l.ranks.sorted().prefix(1))
        for r in ranks { send(.checkpointReported(RankRef(job: job, attempt: l.attempt, rank: r), step: l.step)) }
    }

    mutating func failSomeRank() {
        guard let job = someLive(), let l = live[job], !l.ranks.isEmpty else { return }
        let ranks = l.ranks.sorted()
        let r = ranks[pick(ranks.count)]
        let statuses: [(Int32?, Int32?, String?)] = [(1, nil, nil), (nil, 9, nil), (nil, 11, nil), (86, nil, nil),
                                                     (nil, nil, "exec failed"), (2, nil, nil)]
        let (status, signal, error) = statuses[pick(statuses.count)]
        exitRank(job, r, status: status, signal: signal, error: error)
    }

    mutating func exitRank(_ job: JobID, _ r: Int, status: Int32?, signal: Int32?, error: String?) {
        guard var l = live[job], l.ranks.contains(r) else { return }
        l.ranks.remove(r)
        live[job] = l.ranks.isEmpty ? nil : l
        stopping[job]?.remove(r)
        send(.rankExited(RankRef(job: job, attempt: l.attempt, rank: r), node: l.placement.ranks[r].node,
                         status: status, signal: signal, error: error))
    }

    mutating func exitStopping() {
        for job in stopping.keys.sorted(by: { $0.rawValue < $1.rawValue }) {
            for r in (stopping[job] ?? []).sorted() where chance(0.7) {
                exitRank(job, r, status: nil, signal: 15, error: nil)
            }
            if stopping[job]?.isEmpty == true { stopping[job] = nil }
        }
    }

    mutating func loseNode() {
        let up = nodeIDs.filter(ready.contains)
        guard !up.isEmpty else { return }
        let n = up[pick(up.count)]
        ready.remove(n)
        // Its agent is gone and its ranks with it: no exits are reported.
        for (job, l) in live {
            var l = l
            for r in l.placement.ranks(on: n) {
                l.ranks.remove(r.rank)
                stopping[job]?.remove(r.rank)
            }
            live[job] = l.ranks.isEmpty ? nil : l
        }
        send(.node(n, chance(0.5) ? .lost : .unreachable, cause: "heartbeats stopped", accelerators: nil))
    }

    mutating func nodeReady(_ n: NodeID) {
        ready.insert(n)
        send(.node(n, .ready, cause: "hello", accelerators: nil))
    }

    mutating func bringNodeBack() {
        let down = nodeIDs.filter { !ready.contains($0) }
        guard !down.isEmpty else { return }
        nodeReady(down[pick(down.count)])
    }

    mutating func cancelSomeJob() {
        let open = jobStates.filter { !$0.value.isFinal }.keys.sorted { $0.rawValue < $1.rawValue }
        guard !open.isEmpty, chance(0.3) else { return }
        request += 1
        send(.cancel(open[pick(open.count)], request: request))
    }

    mutating func releaseSomeNode() {
        guard let n = quarantined.keys.sorted(by: { $0.rawValue < $1.rawValue }).first else { return }
        request += 1
        send(.release(n, request: request))
    }

    /// The controller restarts: a new supervisor from what the store holds; the agents stopped every rank.
    mutating func restart() {
        live = [:]
        stopping = [:]
        timers = [:]
        openFailure = [:]
        core = Supervisor(random: SplitMix64(seed: rng.next()), inspectsRanks: false, now: now)
        let nodes = nodeIDs.map { id in
            NodeSnapshot(entry: NodeEntry(id: id, host: id.rawValue, spare: id == "n4",
                                          accelerators: Accelerator.simulated(count: 2, node: id.rawValue)),
                         quarantine: quarantined[id])
        }
        let jobs = jobStates.keys.sorted { $0.rawValue < $1.rawValue }.map { id in
            JobSnapshot(id: id, spec: specs[id]!, state: jobStates[id]!, restarts: restarts[id] ?? 0, attempts: attempts[id] ?? 0,
                        committed: Array(committed[id, default: []].subtracting(corrupt[id, default: []])))
        }
        send(.restored(RestoredState(jobs: jobs, nodes: nodes, openAttempts: openAttempts.mapValues { Array($0) })))
        openAttempts = [:]
        for n in nodeIDs.sorted(by: { $0.rawValue < $1.rawValue }) where ready.contains(n) || inputs == 1 {
            nodeReady(n)
        }
    }

    // MARK: The fake shell

    mutating func perform(_ action: SupervisorAction) -> [SupervisorInput] {
        switch action {
        case .record(let e): observe(e)
        case .setJobState(let id, let state, _):
            if let before = jobStates[id], before != state, !before.canMove(to: state) {
                fail("\(id): illegal transition \(before.rawValue) → \(state.rawValue)")
            }
            jobStates[id] = state
        case .finished(let id, let state, _):
            if state == .failed || state == .cancelled { openFailure[id] = nil }
        case .setNodeState(let n, let state, let reason):
            if state == .quarantined { quarantined[n] = reason } else { quarantined[n] = nil }
        case .prepareLaunch(let p):
            return [.prepared(p.job, attempt: p.attempt, LaunchCheck())]
        case .launch(let order): return launch(order)
        case .abandon: break  // no simulated job allows an in-process rejoin
        case .signal(let order):
            var out: [SupervisorInput] = []
            for r in order.ranks {
                if !ready.contains(r.node) {
                    out.append(.rankUnreachable(RankRef(job: order.job, attempt: order.attempt, rank: r.rank)))
                } else if live[order.job]?.attempt == order.attempt, live[order.job]?.ranks.contains(r.rank) == true {
                    stopping[order.job, default: []].insert(r.rank)
                }
            }
            return out
        case .finishAttempt(let id, let number, _, _):
            openAttempts[id]?.remove(number)
            if live[id]?.attempt == number {
                if let l = live[id], !l.ranks.isEmpty { fail("attempt \(number) of \(id) finished with ranks \(l.ranks.sorted()) live") }
                live[id] = nil
            }
        case .closeStaleAttempt, .requestCheckpoint, .vacated, .sizeWarmPools: break
        case .commitCheckpoint(let id, _, let step, _):
            committed[id, default: []].insert(step)
            corrupt[id]?.remove(step)
            return [.checkpointCommitted(id, step: step, error: nil)]
        case .pruneCheckpoints(let id, let all, _):
            let keep = specs[id]?.checkpoint?.keep ?? 0
            committed[id] = Set(all.sorted().suffix(keep))
        case .markCheckpointCorrupt(let id, let step, _): corrupt[id, default: []].insert(step)
        case .setTimer(let id, let at):
            if at < now { fail("timer \(id) set in the past") }
            timers[id] = at
        case .cancelTimer(let id): timers[id] = nil
        case .note, .waiting, .cleanUpNode, .inspectRanks, .answerCancel, .answerRelease, .stopped: break
        }
        return []
    }

    mutating func launch(_ order: LaunchOrder) -> [SupervisorInput] {
        let job = order.job
        if let l = live[job] { fail("\(job): attempt \(order.attempt) launched while attempt \(l.attempt) is live") }
        if let open = openAttempts[job], !open.isEmpty { fail("\(job): attempt \(order.attempt) launched while \(open) open") }
        for n in order.placement.nodes {
            if !ready.contains(n) { fail("\(job): rank placed on \(n), which is not ready") }
            if quarantined[n] != nil { fail("\(job): rank placed on quarantined \(n)") }
        }
        for (other, l) in live where other != job && !Set(l.placement.nodes).isDisjoint(with: order.placement.nodes) {
            fail("\(job) placed on nodes \(other) uses")
        }
        if let resume = order.resumeStep {
            if !(committed[job]?.contains(resume) ?? false) { fail("\(job) resumes from step \(resume), which is not committed") }
            if corrupt[job]?.contains(resume) ?? false { fail("\(job) resumes from corrupt step \(resume)") }
        }
        attempts[job] = order.attempt
        // The store's startAttempt moves the job to running.
        if let before = jobStates[job], before != .running, !before.canMove(to: .running) {
            fail("\(job): launched from \(before.rawValue)")
        }
        jobStates[job] = .running
        if order.attempt > 1 { restarts[job, default: 0] += 1 }
        openAttempts[job, default: []].insert(order.attempt)
        live[job] = (order.attempt, order.placement, Set(order.placement.ranks.map(\.rank)), order.resumeStep ?? 0)
        var out: [SupervisorInput] = [.launched(job, attempt: order.attempt, rendezvous: "127.0.0.1:1", undelivered: [])]
        for r in order.placement.ranks { out.append(.rankStarted(RankRef(job: job, attempt: order.attempt, rank: r.rank))) }
        return out
    }

    mutating func observe(_ e: SupervisorEvent) {
        kinds[e.kind.rawValue, default: 0] += 1
        guard let job = e.job else { return }
        if let last = lastEventTime[job], e.time < last { fail("\(job): event time went backwards (\(e.kind.rawValue))") }
        lastEventTime[job] = e.time
        switch e.detail {
        case .failureDetected:
            openFailure[job] = e.attempt ?? 0
        case .recoveryComplete:
            if openFailure[job] == nil { fail("\(job): recovery.complete without a failure") }
            openFailure[job] = nil
        case .decision(_, _, _, let restart):
            let key = "\(job)#\(e.attempt ?? 0)"
            if decidedAttempts.contains(key) { fail("\(job): two decisions for attempt \(e.attempt ?? 0)") }
            decidedAttempts.insert(key)
            if restart {
                decisions[job, default: 0] += 1
                if decisions[job]! > specs[job]!.failure.maxRestarts { fail("\(job): restart budget exceeded") }
            }
        default: break
        }
    }

    // MARK: Invariants

    mutating func checkInvariants() {
        for (id, job) in core.jobs {
            if let a = job.attempt, a.gone.count > a.placement.worldSize { fail("\(id): more ranks gone than placed") }
            if job.restarts > job.spec.failure.maxRestarts + 1000 { fail("\(id): restarts runaway") }
        }
    }
}
