import AgentProtocol

/// The node's pre-started interpreters, by kind (`WarmSpec`): how many each kind keeps, which are waiting for
/// a launch, and when the missing ones are started. A pool fills its refill delay after it was asked for or last
/// used — not at once: the interpreters' imports would take the cores from the ranks that just started. A kind
/// whose interpreters keep exiting before any launch (`failureLimit` in a row: a preload that cannot be
/// imported) is disabled, and its launches start processes as before.
public struct WarmPools: Hashable, Sendable {
    public struct Pool: Hashable, Sendable {
        public var size: Int
        public var refillDelay: Duration
        /// Started interpreters waiting for a launch, oldest first.
        public var idle: [Int32] = []
        /// Asked for (`startWarm`) and not yet answered.
        public var starting = 0
        /// When the missing interpreters are started; nil = none missing, or disabled.
        public var refillAt: Duration?
        /// Interpreters in a row that exited before a launch.
        public var failures = 0
        /// Why the kind takes no more launches.
        public var disabled: String?

        public var missing: Int { disabled == nil ? max(size - idle.count - starting, 0) : 0 }
    }

    /// For a pool whose request named no delay.
    public let defaultRefillDelay: Duration
    public let failureLimit: Int
    public private(set) var pools: [WarmSpec: Pool] = [:]
    /// The kind of each waiting interpreter.
    private var kindOf: [Int32: WarmSpec] = [:]
    /// Waiting interpreters that have imported their preload.
    public private(set) var readyPIDs: Set<Int32> = []

    public init(defaultRefillDelay: Duration, failureLimit: Int) {
        self.defaultRefillDelay = defaultRefillDelay
        self.failureLimit = failureLimit
    }

    /// Every waiting interpreter.
    public var idlePIDs: [Int32] { kindOf.keys.sorted() }

    /// Waiting interpreters ready for a launch (what heartbeats report).
    public var readyCount: Int { readyPIDs.count }

    /// A waiting interpreter has imported its preload.
    public mutating func ready(_ pid: Int32) {
        if kindOf[pid] != nil { readyPIDs.insert(pid) }
    }

    public var nextRefill: Duration? { pools.values.compactMap { $0.missing > 0 ? $0.refillAt : nil }.min() }

    /// Sets the kind's size; returns the interpreters to stop (beyond the new size, or all of them at 0).
    public mutating func resize(_ spec: WarmSpec, to size: Int, refillDelay: Duration? = nil, now: Duration) -> [Int32] {
        guard size > 0 else {
            let dropped = pools.removeValue(forKey: spec)?.idle ?? []
            for pid in dropped { forget(pid) }
            return dropped
        }
        var pool = pools[spec] ?? Pool(size: size, refillDelay: refillDelay ?? defaultRefillDelay)
        pool.size = size
        if let refillDelay { pool.refillDelay = refillDelay }
        var surplus: [Int32] = []
        while pool.idle.count > size { surplus.append(pool.idle.removeLast()) }
        for pid in surplus { forget(pid) }
        if pool.missing > 0, pool.refillAt == nil { pool.refillAt = now + pool.refillDelay }
        pools[spec] = pool
        return surplus
    }

    /// A waiting interpreter of the kind for a launch — the oldest ready one, else the oldest (its imports are the
    /// likeliest done; the launch waits for them) — or nil when there is none; the pool refills later.
    public mutating func take(_ spec: WarmSpec, now: Duration) -> Int32? {
        guard var pool = pools[spec], pool.disabled == nil, !pool.idle.isEmpty else { return nil }
        let index = pool.idle.firstIndex(where: readyPIDs.contains) ?? 0
        let pid = pool.idle.remove(at: index)
        kindOf[pid] = nil
        readyPIDs.remove(pid)
        pool.failures = 0
        pool.refillAt = now + pool.refillDelay
        pools[spec] = pool
        return pid
    }

    /// The kinds whose refill is due, with how many interpreters each is to start now.
    public mutating func takeDueRefills(at now: Duration) -> [(WarmSpec, Int)] {
        var due: [(WarmSpec, Int)] = []
        for (spec, pool) in pools where pool.missing > 0 {
            guard let at = pool.refillAt, now >= at else { continue }
            pools[spec]!.refillAt = nil
            pools[spec]!.starting += pool.missing
            due.append((spec, pool.missing))
        }
        return due.sorted { $0.0.python + $0.0.preload.joined() < $1.0.python + $1.0.preload.joined() }
    }

    /// An interpreter started for the kind; false when the kind was dropped or shrunk meanwhile (the caller
    /// stops it).
    public mutating func started(_ spec: WarmSpec, pid: Int32) -> Bool {
        guard pools[spec] != nil else { return false }
        pools[spec]!.starting = max(pools[spec]!.starting - 1, 0)
        guard pools[spec]!.idle.count < pools[spec]!.size else { return false }
        pools[spec]!.idle.append(pid)
        kindOf[pid] = spec
        return true
    }

    /// An interpreter asked for could not be started: a failure of its kind (`failed`).
    public mutating func startFailed(_ spec: WarmSpec, reason: String, now: Duration) -> Bool? {
        guard pools[spec] != nil else { return nil }
        pools[spec]!.starting = max(pools[spec]!.starting - 1, 0)
        return failed(spec, reason: reason, now: now)
    }

    /// An interpreter could not be started, or one exited before a launch: counted; the kind is disabled at the
    /// limit, else tried again after the delay. Returns whether this disabled it; nil when the kind is gone.
    public mutating func failed(_ spec: WarmSpec, reason: String, now: Duration) -> Bool? {
        guard var pool = pools[spec] else { return nil }
        pool.failures += 1
        if pool.failures >= failureLimit {
            pool.disabled = reason
            pool.refillAt = nil
        } else {
            pool.refillAt = now + pool.refillDelay
        }
        pools[spec] = pool
        return pool.disabled != nil
    }

    /// The kind of a waiting interpreter that exited, after forgetting it; nil when it was not waiting.
    public mutating func exited(_ pid: Int32) -> WarmSpec? {
        guard let spec = kindOf[pid] else { return nil }
        forget(pid)
        pools[spec]?.idle.removeAll { $0 == pid }
        return spec
    }

    private mutating func forget(_ pid: Int32) {
        kindOf[pid] = nil
        readyPIDs.remove(pid)
    }

    /// Forgets every interpreter (the agent is stopping); returns their pids.
    public mutating func removeAll() -> [Int32] {
        let all = idlePIDs
        pools = [:]
        kindOf = [:]
        readyPIDs = []
        return all
    }
}
