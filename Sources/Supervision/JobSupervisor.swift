import FaultPolicy
import Foundation
import Planning
import RingmasterModel

/// One job's fault manager, pure: inputs and the time come in (through `FleetState`), actions go out.
/// It holds the job's phase (pending, launching, running, backing off, waiting for nodes, done), its
/// restart budget and backoff, its launch-error chain, committed checkpoints and step intervals.
/// Detection, classification, root-cause refinement, quarantine, placement, shrink and grow are its
/// decisions (`JobSupervisor+Recovery`, `JobSupervisor+Placement`); `Supervisor` routes inputs to it.
public struct JobSupervisor: Sendable {
    public enum Phase: Sendable {
        /// Waiting for a placement (a fresh start, or growing back).
        case pending
        /// Placement chosen, the shell reads the resume candidates' markers.
        case preparing(attempt: Int, placement: Placement, recovery: RecoveryContext?)
        case running(AttemptRun)
        /// A failed attempt is gone; the next one launches when the backoff passes.
        case backoff(Recovery)
        /// A recovery that found no nodes: it continues when nodes are free (or it may shrink).
        case waitingForNodes(Recovery)
        case done(JobState)
    }

    /// A recovery between attempts: what it recovers from, the failed placement and the nodes to leave out.
    public struct Recovery: Sendable {
        public var context: RecoveryContext
        public var previous: Placement
        public var exclude: Set<NodeID>
        public var avoid: Set<NodeID>
    }

    public let id: JobID
    public let spec: JobSpec
    public internal(set) var phase: Phase = .pending
    /// Restarts spent (every attempt after the first).
    public internal(set) var restarts: Int
    /// Attempts launched so far (the next one is `attempts + 1`).
    public internal(set) var attempts: Int
    /// Committed, not corrupt, not pruned steps.
    public internal(set) var committed: Set<Int>
    public internal(set) var corrupt = Set<Int>()
    var importFrom: String?
    var launchErrors = LaunchErrorDetector()
    /// Failures in a row without a committed checkpoint in between.
    public internal(set) var consecutiveFailures = 0
    /// Checkpoints in a row that could not be saved or committed (reset by a commit).
    public internal(set) var failedCheckpoints = 0
    /// A launch deferred because the store could not be written is tried again at this time.
    var launchRetryAt: Instant?
    var intervals = AdaptiveStallTimeout()
    /// The reason stored with the job while it waits (recorded only when it changes).
    var reason: String?
    /// `FleetState.capacityVersion` when the pending job last failed to be placed.
    var unplacedAt: Int?
    var injection: Injection?

    init(_ job: JobSnapshot) {
        id = job.id
        spec = job.spec
        restarts = job.restarts
        attempts = job.attempts
        committed = Set(job.committed)
        importFrom = job.importFrom
        reason = job.reason
    }

    public var attempt: AttemptRun? {
        if case .running(let a) = phase { return a }
        return nil
    }

    var isDone: Bool {
        if case .done = phase { return true }
        return false
    }

    /// The nodes the job holds: its launching or live attempt's.
    var holds: Placement? {
        switch phase {
        case .preparing(_, let p, _): p
        case .running(let a): a.placement
        default: nil
        }
    }

    // MARK: Rank reports

    /// The attempt is taken out of `phase` (left `.pending` until it is put back) before it changes, so that
    /// its per-rank tables change in place: a rank report costs O(1), not a copy of every rank's entry.
    mutating func rankStarted(_ rank: RankRef, _ fleet: inout FleetState) {
        guard var a = attempt, a.owns(rank, job: id) else { return }
        phase = .pending
        a.started.insert(rank.rank)
        a.rankStartedAt[rank.rank] = fleet.now
        phase = .running(a)
    }

    mutating func rankExited(_ rank: RankRef, node: NodeID, status: Int32?, signal: Int32?, error: String?,
                             _ fleet: inout FleetState) {
        guard var a = attempt, a.owns(rank, job: id), !a.gone.contains(rank.rank) else { return }
        phase = .pending
        a.gone.insert(rank.rank)
        a.hang.exited(rank: rank.rank, at: fleet.now)
        phase = .running(a)
        let succeeded = status == 0 && signal == nil && error == nil
        if !succeeded, a.stop == nil {
            let how = error ?? signal.map { "killed by signal \($0)" } ?? "exit status \(status ?? -1)"
            let kind = FailureClassifier.exit(status: status, signal: signal, error: error)
            detect(Failure(kind: kind, node: node, rank: rank.rank, exitStatus: status, signal: signal,
                           cause: "rank \(rank.rank) on \(node): \(how)", detectedAt: fleet.now), &fleet)
        }
        if attempt?.rejoin != nil { decideRejoin(&fleet) }  // the failed rank is gone: the survivors may have answered
        finishIfDone(&fleet)
    }

    /// A signal found no channel to the rank's node: its agent is gone and took the rank with it. That is
    /// the node's loss, whether or not the node manager has said so yet.
    mutating func rankUnreachable(_ rank: RankRef, node: NodeID, _ fleet: inout FleetState) {
        guard var a = attempt, a.owns(rank, job: id), !a.gone.contains(rank.rank) else { return }
        a.gone.insert(rank.rank)
        a.lostNodes.insert(node)
        phase = .running(a)
        detect(Failure(kind: .nodeLost, node: node, rank: rank.rank,
                       cause: "node \(node) has no open channel for rank \(rank.rank)", detectedAt: fleet.now), &fleet)
        finishIfDone(&fleet)
    }

    mutating func nodeLost(_ node: NodeID, state: NodeState, cause: String, _ fleet: inout FleetState) {
        guard var a = attempt else { return }
        let lost = a.placement.ranks(on: node).map(\.rank).filter { !a.gone.contains($0) }
        guard !lost.isEmpty else { return }
        a.gone.formUnion(lost)
        a.lostNodes.insert(node)
        phase = .running(a)
        detect(Failure(kind: .nodeLost, node: node, cause: "node \(node) \(state.rawValue): \(cause)", detectedAt: fleet.now),
               &fleet)
        finishIfDone(&fleet)
    }

    mutating func stepped(_ rank: RankRef, step: Int, _ fleet: inout FleetState) {
        guard var a = attempt, a.owns(rank, job: id) else { return }
        phase = .pending
        let timeoutBefore = a.hang.stallTimeout
        a.hang.stepped(rank: rank.rank, step: step, at: fleet.now)
        intervals = a.hang.intervals
        if rank.rank == a.progressRank { a.step = max(a.step ?? step, step) }
        let first = !a.stepping
        if first {
            a.stepping = true
            fleet.record(.stepping(step: step, secondsAfterLaunch: fleet.now.timeIntervalSince(a.launchedAt)),
                         job: id, attempt: a.number, node: a.placement.ranks[rank.rank].node, rank: rank.rank)
            if let r = a.recovery {
                a.recovery = nil
                recoveryComplete(r, attempt: a, firstStep: step, &fleet)
            }
        }
        phase = .running(a)
        // A step only moves its rank's stall clock later, so an armed hang timer is never late — unless the stall
        // timeout itself shrank (auto) or a section is open: only then is the deadline (a scan of every rank)
        // worked out again. The timer re-arms itself at the true deadline when it fires.
        if a.hangDeadline == nil || a.hang.stallTimeout < timeoutBefore || a.hang.hasOpenSection { armHangTimer(&fleet) }
        checkTimeLimitRequest(&fleet)
    }

    mutating func section(_ rank: RankRef, opened: (name: String, seconds: Double)?, _ fleet: inout FleetState) {
        guard var a = attempt, a.owns(rank, job: id) else { return }
        if let opened {
            a.hang.sectionOpened(rank: rank.rank, name: opened.name, seconds: opened.seconds, at: fleet.now)
        } else {
            a.hang.sectionEnded(rank: rank.rank, at: fleet.now)
        }
        phase = .running(a)
        armHangTimer(&fleet, force: true)
    }

    /// Keeps the hang timer at the detector's next deadline: re-armed when it would come earlier than the
    /// armed one (`force`: whenever it changed, as when a section ends).
    mutating func armHangTimer(_ fleet: inout FleetState, force: Bool = false) {
        guard var a = attempt, !a.stopping, let deadline = a.hang.nextDeadline else { return }
        if let armed = a.hangDeadline, armed <= deadline, !force { return }
        a.hangDeadline = deadline
        phase = .running(a)
        fleet.emit(.setTimer(.hang(id, attempt: a.number), at: deadline))
    }

    /// Cancels the attempt's hang timer when one is armed (a stopping attempt is not watched for hangs).
    func cancelHangTimer(_ a: AttemptRun, _ fleet: inout FleetState) {
        if a.hangDeadline != nil { fleet.emit(.cancelTimer(.hang(id, attempt: a.number))) }
    }

    /// The hang timer fired: a hung rank is a failure (on clusters whose ranks can be inspected, a rank the
    /// kernel shows stopped is named first); otherwise the timer moves to the next deadline.
    mutating func hangTimer(attempt number: Int, _ fleet: inout FleetState) {
        guard var a = attempt, a.number == number, !a.stopping else { return }
        a.hangDeadline = nil
        phase = .running(a)
        guard let stall = a.hang.stalled(at: fleet.now) else { return armHangTimer(&fleet) }
        if fleet.inspectsRanks, stall.section == nil {
            guard !a.inspecting else { return }
            a.inspecting = true
            phase = .running(a)
            fleet.emit(.inspectRanks(id, attempt: a.number, ranks: a.live.map(\.rank)))
            return
        }
        hung(stall, &fleet)
    }

    mutating func inspected(attempt number: Int, stopped: [Int], _ fleet: inout FleetState) {
        guard var a = attempt, a.number == number, !a.stopping, a.inspecting else { return }
        a.inspecting = false
        phase = .running(a)
        guard var stall = a.hang.stalled(at: fleet.now) else { return armHangTimer(&fleet) }
        if let rank = stopped.first(where: { !a.gone.contains($0) }) { stall.rank = rank }
        hung(stall, &fleet)
    }

    mutating func hung(_ stall: HangDetector.Stall, _ fleet: inout FleetState) {
        guard let a = attempt else { return }
        let node = a.placement.ranks[stall.rank].node
        let cause = stall.section.map {
            String(format: "rank %d on %@ stayed in section %@ for %.1f s, past its own timeout of %.0f s (last step %d)",
                   stall.rank, node.rawValue, $0, stall.silentFor, stall.timeout, stall.step)
        } ?? String(format: "rank %d on %@ reported no step for %.1f s (stall timeout %.2f s, %@; last step %d)",
                    stall.rank, node.rawValue, stall.silentFor, stall.timeout, stall.why, stall.step)
        detect(Failure(kind: .hang, node: node, rank: stall.rank, cause: cause, detectedAt: fleet.now,
                       timeout: FiredTimeout(seconds: stall.timeout, why: stall.why)), &fleet)
    }

    // MARK: Checkpoints

    mutating func checkpointReported(_ rank: RankRef, step: Int, _ fleet: inout FleetState) {
        guard spec.checkpoint != nil, var a = attempt, a.owns(rank, job: id) else { return }
        phase = .pending
        let complete = a.commits.report(rank: rank.rank, step: step)
        phase = .running(a)
        guard let complete else { return }
        fleet.emit(.commitCheckpoint(id, attempt: a.number, step: complete, worldSize: a.placement.worldSize))
    }

    /// A rank could not write its shard of `step` (a full disk): the step is never committed. That is no
    /// failure of the job — its ranks train on, and its newest committed step stays the one to resume
    /// from — but every such step is an event, with how far back a failure would now go.
    mutating func checkpointFailed(_ rank: RankRef, step: Int, reason: String, _ fleet: inout FleetState) {
        guard spec.checkpoint != nil, var a = attempt, a.owns(rank, job: id), rank.rank < a.placement.worldSize else { return }
        let first = a.commits.fail(rank: rank.rank, step: step)
        phase = .running(a)
        guard first else { return }
        let node = a.placement.ranks[rank.rank].node
        notCommitted(step, cause: "rank \(rank.rank) on \(node) could not write its shard: \(reason)", node: node,
                     rank: rank.rank, &fleet)
    }

    mutating func notCommitted(_ step: Int, cause: String, node: NodeID? = nil, rank: Int? = nil, _ fleet: inout FleetState) {
        failedCheckpoints += 1
        fleet.record(.checkpointFailed(step: step, cause: cause, newest: resumeCandidates.first, inARow: failedCheckpoints),
                     job: id, attempt: attempt?.number, node: node, rank: rank)
    }

    /// The step's marker and row are written: it is resumable; older steps beyond `keep` are pruned, and a
    /// shrunken attempt stops here to grow back when the full layout fits again. A commit the shell could
    /// not write (the marker's disk or the store is full) leaves the step uncommitted, like a failed save.
    mutating func checkpointCommitted(step: Int, error: String?, _ fleet: inout FleetState) {
        if let error {
            notCommitted(step, cause: "the controller could not commit it: \(error)", &fleet)
            return
        }
        // A step written again by a later attempt is a new checkpoint (the store's row is committed again).
        committed.insert(step)
        corrupt.remove(step)
        importFrom = nil
        consecutiveFailures = 0
        failedCheckpoints = 0
        let keep = spec.checkpoint?.keep ?? Int.max
        let stale = committed.sorted().dropLast(keep)
        let newest = committed.max() ?? step
        let partial = attempt.map { $0.commits.incomplete.filter { $0 < newest } } ?? []
        if !stale.isEmpty || !partial.isEmpty {
            fleet.emit(.pruneCheckpoints(id, committed: committed.sorted(), partial: partial))
        }
        committed.subtract(stale)
        fleet.emit(.note(id, "checkpoint step \(step) committed"
            + (stale.isEmpty ? "" : "; pruning steps \(stale.map(String.init).joined(separator: ", "))")))
        timeLimitCommitted(step: step, &fleet)
        if let a = attempt, a.placement.parallelism.data < spec.parallelism.data, !a.stopping, canGrow(fleet) {
            startGrowing(at: step, &fleet)
        }
    }

    /// Newest committed step that is not corrupt, with the ones the shell is asked to check first.
    var resumeCandidates: [Int] { committed.subtracting(corrupt).sorted(by: >) }
}

/// The failure kind of a rank's exit (design: "failure kinds").
public enum FailureClassifier {
    public static func exit(status: Int32?, signal: Int32?, error: String?) -> FailureKind {
        if error != nil { return .launchError }
        if signal == nil, status == checkpointCorruptExit { return .checkpointCorrupt }
        return .rankExit
    }

    /// A rank that could not verify the checkpoint it resumed from exits with this status (Checkpointing's
    /// `CheckpointError.corruptExitCode`).
    public static let checkpointCorruptExit: Int32 = 86
}
