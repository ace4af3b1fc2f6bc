import RingmasterModel

/// The allocation's decisions as a pure value: which holder jobs to submit, adopt or cancel, which slot
/// runs on which Slurm node, when a node is lost and a replacement is needed. Inputs carry the time (a
/// monotonic `Duration`); outputs are actions for the shell (`SlurmAllocation`) to perform. No IO, no clock.
///
/// ```
/// start ─▶ submitting ─(job id)─▶ pending(reason) ─(running, nodes)─▶ slots bound
///   │ (restored ids: adopted if Slurm still has them)                       │
///   ▼                                                   node not responding / down, or its job ended
/// adopted ──────────────────────────────────────▶        ▼
///                                   slot lost ─▶ replacement job (--exclude bad nodes) ─▶ slot bound again
///
/// holder's time-limit warning ─▶ slots expiring (their jobs checkpoint and stop) + successor job submitted
///   ─▶ successor running and a slot vacated (or its old job ended) ─▶ slot moved to a successor node
///   ─▶ old job cancelled once none of its slots is left
/// ```
public struct AllocationCore: Sendable {
    public enum Action: Hashable, Sendable {
        /// Submit a holder job of `count` nodes; answer with `submitted` or `submitFailed`.
        case submit(HolderJob.Purpose, count: Int, exclude: [String])
        case cancel([String])
        /// End the slot's agent step: its node is lost (the node manager then reports it lost).
        case lose(NodeID, reason: String)
        /// These slots' holder job is near its time limit: the jobs on them should checkpoint and leave
        /// (answer with `vacated` once nothing runs there).
        case expiring([NodeID], reason: String)
        /// Something an operator should read (the log, the events).
        case note(String)
        /// The holder jobs to re-attach to after a controller restart.
        case persist([HolderJob])
    }

    public let settings: SlurmSettings
    public let slots: [NodeID]
    /// How long after a failed `sbatch` it is tried again.
    public var retryDelay: Duration = .seconds(30)

    public private(set) var jobs: [HolderJob] = []
    public private(set) var statuses: [String: SlurmJobStatus] = [:]
    public private(set) var bindings: [NodeID: SlotBinding] = [:]
    /// Nodes Slurm reported lost: every replacement excludes them.
    public private(set) var badHosts: Set<String> = []
    /// Quarantined slots and the node each was on when the fault manager quarantined it: every new holder
    /// job excludes those nodes too, until the slot is released.
    public private(set) var quarantinedSlots: [NodeID: String] = [:]
    /// Submissions asked for and not answered yet.
    public private(set) var submitting: [HolderJob.Purpose] = []
    /// Failed submissions, retried at the time given.
    public private(set) var retries: [(purpose: HolderJob.Purpose, at: Duration, error: String)] = []
    /// Ids of a previous controller's jobs, checked against the first observation.
    private var restored: [HolderJob]?
    /// Jobs whose time-limit signal was seen.
    public private(set) var warned: Set<String> = []
    /// Slots moving off a holder job near its time limit: slot → that job (its successor takes them).
    public private(set) var moving: [NodeID: String] = [:]
    /// Moving slots no attempt holds any more (the controller said so): they move as soon as the successor runs.
    public private(set) var vacatedSlots: Set<NodeID> = []
    /// The nodes' addresses as last seen (`sinfo`).
    private var addresses: [String: String] = [:]
    public private(set) var stopped = false

    public init(settings: SlurmSettings, slots: [NodeID]) {
        self.settings = settings
        self.slots = slots
    }

    // MARK: Inputs

    /// Starts: inside an existing allocation its nodes are bound at once; with jobs a previous controller
    /// left (`restored`) the first observation decides whether they are adopted; else the holder job is submitted.
    public mutating func start(restored: [HolderJob], existing: (job: String, hosts: [String])? = nil) -> [Action] {
        if let existing {
            let job = HolderJob(id: existing.job, purpose: .allocation, submitted: false)
            jobs = [job]
            statuses[job.id] = SlurmJobStatus(id: job.id, state: "RUNNING", reason: "None", nodes: existing.hosts)
            return bindAllocation(job, nodes: existing.hosts, addresses: [:])
                + [.note("using the allocation of Slurm job \(existing.job) (\(existing.hosts.joined(separator: ",")))")]
        }
        guard restored.isEmpty else {
            self.restored = restored
            return [.note("checking the holder jobs of the previous controller: \(restored.map(\.id).joined(separator: ", "))")]
        }
        return request(.allocation)
    }

    public mutating func submitted(_ purpose: HolderJob.Purpose, job id: String) -> [Action] {
        submitting.removeFirst(where: { $0 == purpose })
        let job = HolderJob(id: id, purpose: purpose)
        if stopped { return [.cancel([id])] }
        jobs.append(job)
        statuses[id] = SlurmJobStatus(id: id, state: "PENDING", reason: "submitted", nodes: [])
        return [.note("submitted holder job \(id) (\(purpose))"), .persist(jobs.filter(\.submitted))]
    }

    public mutating func submitFailed(_ purpose: HolderJob.Purpose, error: String, now: Duration) -> [Action] {
        submitting.removeFirst(where: { $0 == purpose })
        guard !stopped else { return [] }
        retries.append((purpose, now + retryDelay, error))
        return [.note("sbatch failed (\(purpose)): \(error); trying again in \(retryDelay.manifestText)")]
    }

    /// One look at Slurm: every job (`squeue --json`) and every node (`sinfo --json`).
    public mutating func observed(jobs queue: [String: SlurmJobStatus], nodes: [String: SlurmNodeStatus]) -> [Action] {
        guard !stopped else { return [] }
        var actions: [Action] = []
        if let previous = restored {
            restored = nil
            actions += adopt(previous, queue: queue)
        }
        for job in jobs {
            guard let status = queue[job.id], status.isPending || status.isRunning else {
                actions += ended(job, state: queue[job.id]?.state ?? "gone from the queue")
                continue
            }
            let before = statuses[job.id]
            statuses[job.id] = status
            if status.isPending, before?.reason != status.reason || before?.isPending != true {
                actions.append(.note("holder job \(job.id) (\(job.purpose)) is pending" + (status.reason == "None" ? "" : ": \(status.reason)")))
            }
            if status.isRunning, !bindings.values.contains(where: { $0.job == job.id }) {
                let addresses = nodes.compactMapValues(\.address)
                switch job.purpose {
                case .allocation: actions += bindAllocation(job, nodes: status.nodes, addresses: addresses)
                case .replacement(let slot): actions += bindReplacement(job, slot: slot, nodes: status.nodes, addresses: addresses)
                case .successor: break
                }
            }
        }
        addresses.merge(nodes.compactMapValues(\.address)) { $1 }
        actions += moveToSuccessors()
        for slot in slots {
            guard let b = bindings[slot] else { continue }
            if let failure = nodes[b.host]?.failure {
                actions += lose(slot, reason: failure)
            } else if let status = statuses[b.job], status.isRunning, !status.nodes.isEmpty, !status.nodes.contains(b.host) {
                actions += lose(slot, reason: "Slurm took \(b.host) out of job \(b.job)")
            }
        }
        return actions
    }

    /// Retries failed submissions whose time has come.
    public mutating func tick(now: Duration) -> [Action] {
        guard !stopped else { return [] }
        let due = retries.filter { $0.at <= now }
        retries.removeAll { $0.at <= now }
        return due.flatMap { request($0.purpose) }
    }

    /// The holder's time-limit warning arrived (its output names it).
    /// The slots bound to it are expiring (their jobs are told to checkpoint and leave) and a successor job
    /// of as many nodes is submitted; each slot moves there once vacated (or once the old job ends).
    public mutating func timeLimitSignal(job: String) -> [Action] {
        guard !stopped, jobs.contains(where: { $0.id == job }), warned.insert(job).inserted else { return [] }
        let mine = slots.filter { bindings[$0]?.job == job }
        let reason = "holder job \(job) is near its time limit (Slurm's --signal warning)"
        guard !mine.isEmpty else { return [.note(reason)] }
        for slot in mine { moving[slot] = job }
        return [.note(reason + "; moving \(mine.map(\.rawValue).joined(separator: ", ")) to a new allocation"),
                .expiring(mine, reason: reason)] + request(.successor(job))
    }

    /// The fault manager quarantined a slot (true) or an operator released it (false): its node is left out
    /// of every holder job submitted from now on, or no longer.
    public mutating func quarantine(_ slot: NodeID, _ quarantined: Bool) -> [Action] {
        guard quarantined else {
            guard let host = quarantinedSlots.removeValue(forKey: slot) else { return [] }
            return [.note("\(slot) released: \(host) is no longer excluded")]
        }
        guard let host = bindings[slot]?.host, quarantinedSlots[slot] != host else { return [] }
        quarantinedSlots[slot] = host
        return [.note("\(slot) quarantined: \(host) is excluded from every holder job submitted from now on")]
    }

    /// Nothing runs on these expiring slots any more: they may move now.
    public mutating func vacated(_ done: [NodeID]) -> [Action] {
        guard !stopped else { return [] }
        vacatedSlots.formUnion(done.filter { moving[$0] != nil })
        return moveToSuccessors()
    }

    /// The controller stops: cancel what it submitted (nothing is left queued or running).
    public mutating func stop() -> [Action] {
        guard !stopped else { return [] }
        stopped = true
        let mine = jobs.filter(\.submitted).map(\.id)
        retries.removeAll()
        return (mine.isEmpty ? [] : [.cancel(mine), .note("cancelled holder jobs \(mine.joined(separator: ", "))")]) + [.persist([])]
    }

    // MARK: Queries

    public var nextDeadline: Duration? { retries.map(\.at).min() }

    /// Why a slot has no node yet (nil once bound).
    public func waiting(_ slot: NodeID) -> String? {
        guard bindings[slot] == nil else { return nil }
        if let old = moving[slot] {
            let job = jobs.last { $0.purpose == .successor(old) }
            let status = job.flatMap { statuses[$0.id] }
            return "waiting for the next allocation: " + (job.map { "Slurm job \($0.id) " } ?? "")
                + (status.map { $0.isPending ? "pending" + ($0.reason == "None" ? "" : " (\($0.reason))") : $0.state.lowercased() }
                    ?? "submitting a holder job")
        }
        let purpose: HolderJob.Purpose = jobs.contains { $0.purpose == .replacement(slot) } || submitting.contains(.replacement(slot))
            || retries.contains { $0.purpose == .replacement(slot) } ? .replacement(slot) : .allocation
        let what = purpose == .allocation ? "the Slurm allocation" : "a replacement node"
        if let job = jobs.last(where: { $0.purpose == purpose }), let status = statuses[job.id] {
            return status.isPending ? "waiting for \(what): Slurm job \(job.id) pending" + (status.reason == "None" ? "" : " (\(status.reason))")
                                    : "waiting for \(what): Slurm job \(job.id) \(status.state.lowercased())"
        }
        if let retry = retries.first(where: { $0.purpose == purpose }) { return "waiting for \(what): sbatch failed: \(retry.error)" }
        if restored != nil { return "checking the previous controller's holder jobs" }
        return "waiting for \(what): submitting a holder job"
    }

    // MARK: Decisions

    private mutating func request(_ purpose: HolderJob.Purpose) -> [Action] {
        guard !stopped, !submitting.contains(purpose) else { return [] }
        submitting.append(purpose)
        let count = switch purpose {
        case .allocation: settings.total
        case .replacement: 1
        case .successor(let old): max(1, moving.values.filter { $0 == old }.count)
        }
        return [.submit(purpose, count: count, exclude: badHosts.union(quarantinedSlots.values).sorted())]
    }

    /// Restored jobs Slurm still has (pending or running) are adopted; without an allocation among them a
    /// new one is submitted.
    private mutating func adopt(_ previous: [HolderJob], queue: [String: SlurmJobStatus]) -> [Action] {
        let alive = previous.filter { queue[$0.id].map { $0.isPending || $0.isRunning } ?? false }
        jobs = alive
        var actions: [Action] = [.persist(alive)]
        if !alive.isEmpty { actions.append(.note("re-attached to holder jobs \(alive.map(\.id).joined(separator: ", "))")) }
        if !alive.contains(where: { $0.purpose == .allocation }) { actions += request(.allocation) }
        return actions
    }

    private mutating func bindAllocation(_ job: HolderJob, nodes: [String], addresses: [String: String]) -> [Action] {
        let usable = nodes.filter { !badHosts.contains($0) }
        var actions: [Action] = []
        for (slot, host) in zip(slots, usable) where bindings[slot] == nil {
            bindings[slot] = SlotBinding(job: job.id, host: host, address: addresses[host])
        }
        let bound = zip(slots, usable).map { "\($0)=\($1)" }.joined(separator: " ")
        actions.append(.note("holder job \(job.id) is running: \(bound)"))
        for slot in slots.dropFirst(usable.count) where bindings[slot] == nil {
            actions += request(.replacement(slot))
        }
        return actions
    }

    private mutating func bindReplacement(_ job: HolderJob, slot: NodeID, nodes: [String], addresses: [String: String]) -> [Action] {
        guard let host = nodes.first(where: { !badHosts.contains($0) }) else { return [] }
        bindings[slot] = SlotBinding(job: job.id, host: host, address: addresses[host])
        return [.note("replacement job \(job.id) is running: \(slot)=\(host)")]
    }

    /// Successors that run take the slots moving to them: a vacated slot (its step ends: the node manager
    /// starts it again on the new node) or one whose old job already ended. The old job is cancelled once
    /// none of its slots is left.
    private mutating func moveToSuccessors() -> [Action] {
        var actions: [Action] = []
        for job in jobs {
            guard case .successor(let old) = job.purpose, let status = statuses[job.id], status.isRunning else { continue }
            let taken = Set(bindings.values.map(\.host))
            var free = status.nodes.filter { !badHosts.contains($0) && !taken.contains($0) }
            for slot in slots where moving[slot] == old && !free.isEmpty {
                let before = bindings[slot]
                guard before == nil || vacatedSlots.contains(slot) else { continue }
                let host = free.removeFirst()
                moving[slot] = nil
                vacatedSlots.remove(slot)
                bindings[slot] = SlotBinding(job: job.id, host: host, address: addresses[host])
                if let before {
                    actions.append(.lose(slot, reason: "\(slot) moves from \(before.host) (Slurm job \(old), near its time limit) "
                        + "to \(host) (Slurm job \(job.id))"))
                }
                actions.append(.note("\(slot) moved to \(host) (Slurm job \(job.id))"))
            }
            if let previous = jobs.first(where: { $0.id == old }), !bindings.values.contains(where: { $0.job == old }),
               !moving.values.contains(old) {
                jobs.removeAll { $0.id == old }
                statuses[old] = nil
                if previous.submitted { actions.append(.cancel([old])) }
                actions += [.note("holder job \(old) has no slot left: cancelled before its time limit"), .persist(jobs.filter(\.submitted))]
            }
        }
        return actions
    }

    /// A slot's node is gone: its step ends, the node is remembered as bad, a replacement is asked for.
    private mutating func lose(_ slot: NodeID, reason: String) -> [Action] {
        moving[slot] = nil
        vacatedSlots.remove(slot)
        guard let b = bindings.removeValue(forKey: slot) else { return [] }
        badHosts.insert(b.host)
        return [.lose(slot, reason: "\(reason) (slot \(slot), Slurm job \(b.job))"), .note("\(slot) lost its node \(b.host): \(reason)")]
            + request(.replacement(slot))
    }

    /// A holder job left the queue or ended: its slots are lost.
    private mutating func ended(_ job: HolderJob, state: String) -> [Action] {
        jobs.removeAll { $0.id == job.id }
        statuses[job.id] = nil
        var actions: [Action] = [.note("holder job \(job.id) (\(job.purpose)) ended: \(state)"), .persist(jobs.filter(\.submitted))]
        for slot in slots where bindings[slot]?.job == job.id {
            let host = bindings.removeValue(forKey: slot)!.host
            actions.append(.lose(slot, reason: "holder job \(job.id) ended (\(state)) under \(slot) (\(host))"))
            // A slot moving to a successor waits for it instead.
            if moving[slot] == nil { actions += request(.replacement(slot)) }
        }
        if case .successor(let old) = job.purpose {
            for slot in slots where moving[slot] == old {
                moving[slot] = nil
                vacatedSlots.remove(slot)
                if bindings[slot] == nil { actions += request(.replacement(slot)) }
            }
        }
        if case .replacement(let slot) = job.purpose, bindings[slot] == nil { actions += request(.replacement(slot)) }
        if job.purpose == .allocation, !job.submitted {
            actions.append(.note("the allocation this controller runs in has ended"))
        }
        return actions
    }
}

extension Array {
    fileprivate mutating func removeFirst(where predicate: (Element) -> Bool) {
        if let i = firstIndex(where: predicate) { remove(at: i) }
    }
}
