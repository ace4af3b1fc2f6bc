import FaultPolicy
import Foundation
import Planning
import RingmasterModel

/// Where the job's attempts run: a fresh placement, a recovery's replacement, shrink and grow; and the
/// two-step launch (prepare: the resume candidates checked; launch: the attempt ordered).
extension JobSupervisor {
    /// Whether `schedule` could place the job now: a recovery waiting for nodes, or a pending job whose
    /// last try was on other free slots (a queue of a thousand jobs is not tried again on each submission).
    func mayBePlaced(_ fleet: FleetState) -> Bool {
        switch phase {
        case .pending: unplacedAt != fleet.capacityVersion
        case .waitingForNodes: true
        default: false
        }
    }

    /// A pending job, or a recovery waiting for nodes, tries the free nodes.
    mutating func schedule(_ fleet: inout FleetState) {
        switch phase {
        case .pending:
            if let at = launchRetryAt, at > fleet.now { return }
            launchRetryAt = nil
            // A placement depends only on the spec and the free slots: it fails again until they change.
            guard unplacedAt != fleet.capacityVersion else { return }
            let slots = fleet.freeSlots(for: spec)
            do {
                let placement = try Placer(job: spec).place(on: slots)
                unplacedAt = nil
                prepare(placement, recovery: nil, &fleet)
            } catch {
                unplacedAt = fleet.capacityVersion
                let ready = slots.count
                let why = "waiting for nodes: \(error.message) (\(ready) free ready node\(ready == 1 ? "" : "s"))"
                // Said once per change: the note (a log line), the stored reason and its event.
                guard !fleet.settling, reason != why else { return }
                reason = why
                fleet.emit(.waiting(id, reason: why))
                fleet.emit(.setJobState(id, .pending, reason: why))
                fleet.record(.waiting(reason: why), job: id)
            }
        case .waitingForNodes(let r):
            // A recovery waiting for nodes keeps its previous placement (and may use spares), else shrinks.
            let slots = fleet.freeSlots(for: spec)
            let usable = Set(slots.map(\.id))
            let gone = Set(r.previous.nodes.filter { !usable.contains($0) })
            if let replaced = try? Placer(job: spec).replace(r.previous, excluding: gone, nodes: slots) {
                prepare(replaced.placement, recovery: r.context, &fleet)
            } else if fleet.now.timeIntervalSince(r.context.failure.detectedAt) >= fleet.shrinkGrace,
                      let shrunk = shrink(slots, &fleet) {
                prepare(shrunk, recovery: r.context, &fleet)
            }
        default:
            return
        }
    }

    /// With `failure.minDataParallel`, the largest data parallelism at or above it that fits the free nodes
    /// (`recovery.shrink` recorded); nil when the job may not shrink or nothing fits.
    func shrink(_ slots: [NodeSlots], _ fleet: inout FleetState) -> Placement? {
        let full = spec.parallelism.data
        guard let minimum = spec.failure.minDataParallel, minimum < full else { return nil }
        for data in stride(from: full - 1, through: minimum, by: -1) {
            var smaller = spec
            smaller.parallelism.data = data
            guard let placement = try? Placer(job: smaller).place(on: slots) else { continue }
            fleet.record(.shrink(from: full, to: data, worldSize: placement.worldSize, nodes: placement.nodes.count), job: id)
            return placement
        }
        return nil
    }

    /// Whether the job's full layout fits the free nodes plus its own.
    func canGrow(_ fleet: FleetState) -> Bool {
        (try? Placer(job: spec).place(on: fleet.freeSlots(for: spec, besides: id))) != nil
    }

    /// A shrunken attempt just committed `step` and the full layout fits again: stop it there.
    mutating func startGrowing(at step: Int, _ fleet: inout FleetState) {
        guard var a = attempt else { return }
        a.stop = .grow(step: step)
        phase = .running(a)
        fleet.record(.grow(step: step, from: a.placement.parallelism.data, to: spec.parallelism.data), job: id, attempt: a.number)
        cancelHangTimer(a, &fleet)
        signalSurvivors(SIGTERM, &fleet)
    }

    /// The shrunken attempt is gone: the full layout from its newest checkpoint, or wait for nodes.
    mutating func growBack(_ fleet: inout FleetState) {
        if let placement = try? Placer(job: spec).place(on: fleet.freeSlots(for: spec)) {
            prepare(placement, recovery: nil, &fleet)
        } else {
            let why = "waiting for nodes to grow back"
            reason = why
            fleet.emit(.setJobState(id, .pending, reason: why))
            phase = .pending
        }
    }

    /// Holds the placement's nodes and asks the shell to check the resume candidates.
    mutating func prepare(_ placement: Placement, recovery: RecoveryContext?, _ fleet: inout FleetState) {
        let number = attempts + 1
        phase = .preparing(attempt: number, placement: placement, recovery: recovery)
        fleet.reserve(placement, for: id)
        let candidates = resumeCandidates
        fleet.emit(.prepareLaunch(LaunchPreparation(
            job: id, attempt: number, candidates: candidates, importFrom: candidates.isEmpty ? importFrom : nil)))
    }

    /// The candidates are checked: the newest usable one (or the imported step) is the resume step; a step
    /// whose marker names another job is marked corrupt. Then the attempt is ordered.
    mutating func prepared(attempt number: Int, _ check: LaunchCheck, _ fleet: inout FleetState) {
        guard case .preparing(number, let placement, var recovery) = phase else { return }
        if let error = check.importError {
            fleet.emit(.note(id, "launching \(id) failed: \(error)"))
            end(.failed, "launch failed: \(error)", &fleet)
            return
        }
        for step in check.foreign.sorted() where committed.contains(step) {
            corrupt.insert(step)
            committed.remove(step)
            fleet.emit(.markCheckpointCorrupt(id, step: step, reason: check.problems[step] ?? "its marker names another job"))
        }
        let handOff = recovery?.rejoin
        let resume = handOff?.step ?? check.imported ?? resumeCandidates.first { check.problems[$0] == nil }
        if let imported = check.imported { committed.insert(imported) }
        attempts = number
        if number > 1 { restarts += 1 }
        let now = fleet.now
        if recovery != nil {
            recovery!.relaunchedAt = now
            recovery!.resumeStep = resume
        }
        let hang = HangDetector(stallTimeout: spec.failure.stallTimeout, intervals: intervals)
        var run = AttemptRun(number: number, placement: placement, launchedAt: now, resumeStep: resume, hang: hang,
                             recovery: recovery)
        run.warmSpares = warmSpares(besides: placement, fleet)
        phase = .running(run)
        let token = AttemptToken.generate(using: &fleet.random)
        let port = 20000 + Int(fleet.random.next() % 10000)
        fleet.emit(.launch(LaunchOrder(job: id, attempt: number, placement: placement, resumeStep: resume,
                                       imported: check.imported == nil ? nil : importFrom, token: token, masterPort: port,
                                       recovering: recovery != nil, warmSpares: run.warmSpares,
                                       rejoin: handOff.map { RejoinLaunch(from: $0.from, survivors: $0.survivors.map(\.rank)) })))
        if check.imported != nil { importFrom = nil }
    }

    /// The idle nodes that keep the job's warm interpreters: ready, free, able to hold a rank, inventory spares
    /// first, then by name.
    func warmSpares(besides placement: Placement, _ fleet: FleetState) -> [NodeID] {
        guard let warm = spec.warm, warm.spares > 0 else { return [] }
        let used = Set(placement.nodes)
        return fleet.freeSlots(for: spec, besides: id)
            .filter { !used.contains($0.id) && $0.capacity > 0 }
            .sorted { ($0.spare ? 0 : 1, $0.id.rawValue) < ($1.spare ? 0 : 1, $1.id.rawValue) }
            .prefix(warm.spares).map(\.id)
    }

    /// A node changed state: when the running attempt's warm spares are not what they would be now (a spare lost,
    /// or back with a fresh agent and no pool), the pools follow. An attempt on its way out is left alone: the
    /// next one sizes its own.
    mutating func refreshWarmSpares(_ fleet: inout FleetState) {
        guard spec.warm != nil, case .running(var run) = phase, run.failure == nil, run.stop == nil else { return }
        let spares = warmSpares(besides: run.placement, fleet)
        guard spares != run.warmSpares else { return }
        run.warmSpares = spares
        phase = .running(run)
        fleet.emit(.sizeWarmPools(WarmPoolOrder(job: id, placement: run.placement, spares: spares)))
    }

    /// The attempt exists and its launches went out (ranks on nodes without a channel are that node's loss).
    mutating func launched(attempt number: Int, rendezvous: String, undelivered: [Int], _ fleet: inout FleetState) {
        guard var a = attempt, a.number == number, !a.delivered else { return }
        a.delivered = true
        phase = .running(a)
        if a.recovery != nil {
            fleet.record(.relaunch(nodes: a.placement.nodes, rendezvous: rendezvous, resumeStep: a.resumeStep),
                         job: id, attempt: number)
        }
        fleet.emit(.note(id, "attempt \(number) of \(id): launched \(a.placement.worldSize) ranks on "
            + "\(a.placement.nodes.count) nodes (rendezvous \(rendezvous))" + (a.resumeStep.map { ", resuming from step \($0)" } ?? "")))
        for rank in undelivered {
            guard rank < a.placement.worldSize else { continue }
            let node = a.placement.ranks[rank].node
            rankUnreachable(RankRef(job: id, attempt: number, rank: rank), node: node, &fleet)
        }
    }

    /// How long a launch deferred by a store that cannot be written waits before it is tried again.
    static let launchRetry: TimeInterval = 5

    /// The shell could not record the attempt because the store cannot be written now (a full disk, a lock
    /// another process holds). Nothing was launched and no restart was spent: the nodes are free again,
    /// and the same launch — a fresh start, or the recovery it was — is tried again after `launchRetry`.
    /// A cancel that came meanwhile ends the job.
    mutating func launchDeferred(attempt number: Int, error: String, _ fleet: inout FleetState) {
        guard let a = attempt, a.number == number, !a.delivered else { return }
        attempts = number - 1
        if number > 1 { restarts -= 1 }
        fleet.releaseNodes(of: id)
        fleet.needsSchedule = true
        guard a.cancelRequests.isEmpty else {
            end(.cancelled, "cancelled by user", &fleet)
            for request in a.cancelRequests { fleet.emit(.answerCancel(request: request, .success(id))) }
            return
        }
        let retry = Self.launchRetry
        fleet.record(.launchDeferred(error: error, retry: retry), job: id, attempt: number)
        fleet.emit(.note(id, "launching attempt \(number) of \(id) deferred: \(error)"))
        if var context = a.recovery {
            if let handOff = context.rejoin { dropHandOff(handOff, "the attempt could not be recorded: \(error)", &fleet) }
            context.rejoin = nil
            context.relaunchedAt = nil
            phase = .backoff(Recovery(context: context, previous: a.placement, exclude: a.lostNodes, avoid: []))
        } else {
            phase = .pending
            launchRetryAt = fleet.now + retry
        }
        fleet.emit(.setTimer(.relaunch(id), at: fleet.now + retry))
    }

    /// The relaunch timer: a recovery's backoff passed, or a deferred fresh launch may be tried again.
    mutating func relaunchTimer(_ fleet: inout FleetState) {
        if case .pending = phase, launchRetryAt != nil {
            launchRetryAt = nil
            fleet.needsSchedule = true
            return
        }
        relaunch(&fleet)
    }

    /// The shell could not create the attempt: the job fails with the reason.
    mutating func launchFailed(attempt number: Int, error: String, _ fleet: inout FleetState) {
        guard let a = attempt, a.number == number, !a.delivered else { return }
        if let handOff = a.recovery?.rejoin { dropHandOff(handOff, "the attempt could not be launched: \(error)", &fleet) }
        fleet.emit(.note(id, "launching \(id) failed: \(error)"))
        end(.failed, "launch failed: \(error)", &fleet)
        for request in a.cancelRequests { fleet.emit(.answerCancel(request: request, .success(id))) }
    }
}
