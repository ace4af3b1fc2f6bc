import FaultPolicy
import Foundation
import RingmasterModel
import Supervision

/// A manual clock and a fake shell around `Supervisor`: it answers prepare, launch and commit the way
/// the real shell does (at once, successfully, unless told otherwise) and keeps what the actions said.
struct Harness {
    var core: Supervisor
    var seconds: Double = 0
    var timers: [TimerID: Instant] = [:]
    var events: [SupervisorEvent] = []
    var launches: [LaunchOrder] = []
    var signals: [SignalOrder] = []
    var jobStates: [JobID: JobState] = [:]
    var jobReasons: [JobID: String?] = [:]
    var nodeStates: [NodeID: NodeState] = [:]
    var finishedAttempts: [(JobID, Int, AttemptState)] = []
    var corrupt: [JobID: Set<Int>] = [:]
    var notes: [String] = []
    var all: [SupervisorAction] = []
    var stopped = false
    /// Steps the fake shell refuses (a marker that names another job).
    var foreignMarkers: [JobID: Set<Int>] = [:]
    var unreachable = Set<NodeID>()
    var inspectStopped: [Int] = []
    var checkpointRequests: [CheckpointOrder] = []
    var vacated: [[NodeID]] = []
    /// Launches the fake shell answers `launchDeferred` (the store cannot be written), counted down.
    var deferLaunches = 0
    /// Steps whose commit the fake shell cannot write (the marker's disk or the store is full).
    var failCommits = Set<Int>()
    var commits: [Int] = []
    var warmPools: [WarmPoolOrder] = []
    var abandons: [AbandonOrder] = []

    static let origin = Date(timeIntervalSince1970: 1_800_000_000)

    init(nodes: Int, spares: Int = 0, accelerators: Int = 2, inspects: Bool = false, seed: UInt64 = 1) {
        core = Supervisor(random: SplitMix64(seed: seed), inspectsRanks: inspects, now: Self.instant(0))
        let list = (0..<(nodes + spares)).map { i in
            NodeSnapshot(entry: NodeEntry(id: NodeID("n\(i)"), host: "10.0.0.\(i)", spare: i >= nodes,
                                          accelerators: Accelerator.simulated(count: accelerators, node: "n\(i)")))
        }
        send(.restored(RestoredState(jobs: [], nodes: list)))
        for n in list { send(.node(n.entry.id, .ready, cause: "hello", accelerators: nil)) }
    }

    static func instant(_ s: Double) -> Instant {
        Instant(monotonic: .milliseconds(Int64((s * 1000).rounded())), wall: origin.addingTimeInterval(s))
    }

    var now: Instant { Self.instant(seconds) }

    @discardableResult
    mutating func send(_ input: SupervisorInput) -> [SupervisorAction] {
        var queue = [input]
        var produced: [SupervisorAction] = []
        while !queue.isEmpty {
            let next = queue.removeFirst()
            let actions = core.handle(next, now: now)
            produced += actions
            for action in actions { queue += perform(action) }
        }
        all += produced
        return produced
    }

    mutating func perform(_ action: SupervisorAction) -> [SupervisorInput] {
        switch action {
        case .record(let e): events.append(e)
        case .note(_, let text): notes.append(text)
        case .setJobState(let id, let state, let reason):
            jobStates[id] = state
            jobReasons[id] = reason
        case .setNodeState(let node, let state, _): nodeStates[node] = state
        case .prepareLaunch(let p):
            var check = LaunchCheck()
            for step in p.candidates {
                guard foreignMarkers[p.job]?.contains(step) == true else { break }
                check.problems[step] = "its COMMITTED marker names job other"
                check.foreign.insert(step)
            }
            return [.prepared(p.job, attempt: p.attempt, check)]
        case .launch(let order):
            launches.append(order)
            if deferLaunches > 0 {
                deferLaunches -= 1
                return [.launchDeferred(order.job, attempt: order.attempt, error: "the state database is full")]
            }
            let undelivered = order.placement.ranks.filter { unreachable.contains($0.node) }.map(\.rank)
            return [.launched(order.job, attempt: order.attempt, rendezvous: "127.0.0.1:4000", undelivered: undelivered)]
        case .signal(let order):
            signals.append(order)
            return order.ranks.filter { unreachable.contains($0.node) }
                .map { .rankUnreachable(RankRef(job: order.job, attempt: order.attempt, rank: $0.rank)) }
        case .finishAttempt(let id, let number, let state, _): finishedAttempts.append((id, number, state))
        case .commitCheckpoint(let id, _, let step, _):
            commits.append(step)
            return [.checkpointCommitted(id, step: step, error: failCommits.contains(step) ? "no space left" : nil)]
        case .markCheckpointCorrupt(let id, let step, _): corrupt[id, default: []].insert(step)
        case .inspectRanks(let id, let number, _): return [.inspected(id, attempt: number, stopped: inspectStopped)]
        case .setTimer(let id, let at): timers[id] = at
        case .cancelTimer(let id): timers[id] = nil
        case .stopped: stopped = true
        case .requestCheckpoint(let order): checkpointRequests.append(order)
        case .vacated(let nodes): vacated.append(nodes)
        case .sizeWarmPools(let order): warmPools.append(order)
        case .abandon(let order): abandons.append(order)
        case .finished, .waiting, .closeStaleAttempt, .pruneCheckpoints, .cleanUpNode, .answerCancel, .answerRelease: break
        }
        return []
    }

    /// Moves the clock to `s` seconds, firing every timer due on the way, in deadline order.
    mutating func advance(to s: Double) {
        while let (id, at) = timers.min(by: { $0.value < $1.value }), at <= Self.instant(s) {
            timers[id] = nil
            seconds = max(seconds, at.monotonic.seconds)
            send(.timer(id))
        }
        seconds = max(seconds, s)
    }

    mutating func advance(by s: Double) { advance(to: seconds + s) }

    // MARK: Jobs

    static func spec(_ name: String = "train", data: Int = 2, pipeline: Int = 1, tensor: Int = 2, maxRestarts: Int = 3,
                     backoff: Duration = .milliseconds(200), stall: StallTimeout = .fixed(.seconds(3)),
                     quarantineAfter: Int = 3, minData: Int? = nil, checkpoint: Bool = true) -> JobSpec {
        JobSpec(name: name, command: ["train"], parallelism: Parallelism(data: data, pipeline: pipeline, tensor: tensor),
                resources: Resources(acceleratorsPerRank: 1),
                checkpoint: checkpoint ? CheckpointPolicy(every: 5, keep: 2, dir: "/ckpt") : nil,
                failure: FailurePolicy(maxRestarts: maxRestarts, backoff: backoff, stallTimeout: stall,
                                       quarantineAfter: quarantineAfter, minDataParallel: minData))
    }

    @discardableResult
    mutating func submit(_ spec: JobSpec, id: String = "train-1") -> JobID {
        let job = JobID(id)
        send(.submitted(JobSnapshot(id: job, spec: spec)))
        return job
    }

    func attempt(_ job: JobID) -> AttemptRun? { core.jobs[job]?.attempt }

    /// Every rank of the job's attempt starts.
    mutating func start(_ job: JobID) {
        guard let a = attempt(job) else { return }
        for r in a.placement.ranks { send(.rankStarted(RankRef(job: job, attempt: a.number, rank: r.rank))) }
    }

    /// Every live rank reports `step`.
    mutating func step(_ job: JobID, _ step: Int) {
        guard let a = attempt(job) else { return }
        for r in a.live { send(.step(RankRef(job: job, attempt: a.number, rank: r.rank), step: step)) }
    }

    mutating func checkpoint(_ job: JobID, _ step: Int) {
        guard let a = attempt(job) else { return }
        for r in a.live { send(.checkpointReported(RankRef(job: job, attempt: a.number, rank: r.rank), step: step)) }
    }

    mutating func exit(_ job: JobID, rank: Int, status: Int32? = 1, signal: Int32? = nil, error: String? = nil) {
        guard let a = attempt(job) else { return }
        send(.rankExited(RankRef(job: job, attempt: a.number, rank: rank), node: a.placement.ranks[rank].node,
                         status: status, signal: signal, error: error))
    }

    /// The ranks still live exit the way a SIGTERM'd rank does.
    mutating func survivorsExit(_ job: JobID, signal: Int32 = 15) {
        guard let a = attempt(job) else { return }
        for r in a.live where !unreachable.contains(r.node) { exit(job, rank: r.rank, status: nil, signal: signal) }
    }

    /// A second later the attempt reports step 7 and rank 0 exits 1 (after a step: no launch error), the
    /// rest stop; the decision's delay passes. Returns that delay.
    mutating func failAndDelay(_ job: JobID) -> Double? {
        advance(by: 1)
        step(job, 7)
        exit(job, rank: 0, status: 1)
        survivorsExit(job)
        guard case .decision(_, let delay, _, _)? = events(.recoveryDecision, job: job).last?.detail else { return nil }
        advance(by: delay)
        return delay
    }

    func events(_ kind: EventKind, job: JobID? = nil) -> [SupervisorEvent] {
        events.filter { $0.kind == kind && (job == nil || $0.job == job) }
    }

    func failures(_ job: JobID) -> [Failure] {
        events(.failureDetected, job: job).compactMap {
            switch $0.detail {
            case .failureDetected(let f, _, _, _): f
            case .rootCause(let later, _): later
            default: nil
            }
        }
    }
}
