import FaultPolicy
import Foundation
import Planning
import RingmasterModel

/// What every job's supervisor shares: the nodes, quarantine, the random source, the time of the input
/// being handled and the actions it produced so far. Owned by `Supervisor`.
public struct FleetState: Sendable {
    /// The inventory's nodes, in inventory order.
    public private(set) var nodes: [NodeSnapshot] = [] { didSet { capacityVersion &+= 1 } }
    private var index: [NodeID: Int] = [:]
    public var quarantine = QuarantineTracker(threshold: 3)
    /// Nodes held by a job's launching or live attempt.
    public var reserved: [NodeID: JobID] = [:] { didSet { capacityVersion &+= 1 } }
    /// Changes with every change of the nodes (state, accelerators, quarantine) or of their reservations:
    /// the free slots, and so a placement that failed, stay the same until it changes.
    public private(set) var capacityVersion = 0
    public var random: any RandomNumberGenerator & Sendable
    public var shuttingDown = false
    /// Nodes whose time limit is near (with why): nothing new is placed on them until they are lost and
    /// come back (on another allocation).
    public var expiring: [NodeID: String] = [:]
    /// Expiring nodes already reported free of attempts.
    var vacated = Set<NodeID>()
    /// Whether ranks can be inspected (stopped processes told from silent ones: local clusters).
    public let inspectsRanks: Bool
    public let gracePeriod: Duration
    /// How long a recovering job waits for lost capacity to return before it may shrink.
    public let shrinkGrace: TimeInterval
    /// Whether the shell should try placing pending jobs after this input.
    var needsSchedule = false
    var now: Instant
    var actions: [SupervisorAction] = []

    init(random: any RandomNumberGenerator & Sendable, inspectsRanks: Bool, gracePeriod: Duration, shrinkGrace: TimeInterval,
         now: Instant) {
        self.random = random
        self.inspectsRanks = inspectsRanks
        self.gracePeriod = gracePeriod
        self.shrinkGrace = shrinkGrace
        self.now = now
    }

    mutating func emit(_ action: SupervisorAction) { actions.append(action) }

    mutating func record(_ detail: SupervisorEvent.Detail, job: JobID? = nil, attempt: Int? = nil, node: NodeID? = nil,
                         rank: Int? = nil) {
        actions.append(.record(SupervisorEvent(time: now, job: job, attempt: attempt, node: node, rank: rank, detail)))
    }

    mutating func unit() -> Double { Double(random.next() >> 11) / Double(1 << 53) }

    // MARK: Nodes

    public func node(_ id: NodeID) -> NodeSnapshot? { index[id].map { nodes[$0] } }

    public var quarantined: [NodeID: String] {
        Dictionary(uniqueKeysWithValues: nodes.compactMap { n in n.quarantine.map { (n.entry.id, $0) } })
    }

    mutating func setNodes(_ list: [NodeSnapshot]) {
        nodes = list
        index = Dictionary(uniqueKeysWithValues: list.enumerated().map { ($1.entry.id, $0) })
    }

    /// Changes a known node; an id outside the inventory is ignored (false).
    @discardableResult
    mutating func update(_ id: NodeID, _ change: (inout NodeSnapshot) -> Void) -> Bool {
        guard let i = index[id] else { return false }
        change(&nodes[i])
        return true
    }

    /// Nodes still coming up: a waiting job's reason would only be noise.
    var settling: Bool { nodes.contains { $0.state == nil || $0.state == .connecting } }

    /// Nodes that are ready, not quarantined and not held by another job, as slots for `spec`.
    func freeSlots(for spec: JobSpec, besides job: JobID? = nil) -> [NodeSlots] {
        nodes.filter { n in
            n.state == .ready && n.quarantine == nil && expiring[n.entry.id] == nil && (reserved[n.entry.id] == nil || reserved[n.entry.id] == job)
        }.map { NodeSlots(node: $0.entry, resources: spec.resources) }
    }

    mutating func reserve(_ placement: Placement, for job: JobID) {
        for n in placement.nodes { reserved[n] = job }
    }

    mutating func releaseNodes(of job: JobID) {
        reserved = reserved.filter { $0.value != job }
    }
}
