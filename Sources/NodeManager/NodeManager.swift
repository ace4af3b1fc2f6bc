import AgentProtocol
import Foundation
import RingmasterModel
import Synchronization

/// A node's state changed. Persisted by the controller (one event row per change).
public struct NodeEvent: Hashable, Sendable, CustomStringConvertible {
    public var timestamp: Date
    public var node: NodeID
    /// nil for the first state of a node.
    public var from: NodeState?
    public var to: NodeState
    public var cause: String

    public init(timestamp: Date, node: NodeID, from: NodeState?, to: NodeState, cause: String) {
        self.timestamp = timestamp
        self.node = node
        self.from = from
        self.to = to
        self.cause = cause
    }

    public var description: String { "\(node): \(from?.rawValue ?? "-") → \(to.rawValue) (\(cause))" }
}

/// A message of one node's agent.
public struct NodeMessage: Sendable {
    public var node: NodeID
    public var message: AgentMessage
}

/// What the controller knows about a node now.
public struct NodeStatus: Sendable {
    public var entry: NodeEntry
    public var state: NodeState?
    public var since: Date?
    public var hello: Hello?
    public var lastHeartbeat: Heartbeat?
    /// Cause of the latest transition (the error, for unreachable and lost nodes).
    public var cause: String?
}

/// Brings up every node of an inventory in parallel, supervises heartbeats, pings every ready node each heartbeat
/// interval (its agent fences itself when the pings stop: `HeartbeatSettings.agentSilenceLimit`), reconnects with
/// backoff, and hands the controller a stream of agent messages and node events. The decisions are `NodeSupervisor`'s;
/// this shell only does the IO.
public final class NodeManager: Sendable {
    public let inventory: ClusterInventory
    /// State changes, in order.
    public let events: AsyncStream<NodeEvent>
    /// Agent messages of every node. Bounded: readers block (pushing back to the agents) when it is full,
    /// except heartbeats, which are dropped instead (the supervisor has already seen them).
    public let messages: BoundedAsyncQueue<NodeMessage>
    /// Whether heartbeats go to `messages` too. The controller's runner has no use for them (the supervisor
    /// and `statuses()` have them): at 512 nodes they were a queue hand-off and a runner wake-up each.
    public let forwardsHeartbeats: Bool

    let transport: any AgentTransport
    private let clock: any SupervisionClock
    private let wallClock: @Sendable () -> Date
    private let random: @Sendable () -> Double
    private let eventContinuation: AsyncStream<NodeEvent>.Continuation

    private struct Waiter {
        var predicate: @Sendable ([NodeID: NodeState]) -> Bool
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var supervisor: NodeSupervisor
        var channels: [NodeID: (attempt: Int, channel: any AgentChannel)] = [:]
        /// Events of the channel being opened, from the moment `open` is called until it has
        /// returned and the channel is registered (an agent's hello can beat `open`). Replayed in
        /// order then, so nobody sees a ready node whose channel `send` cannot reach yet.
        var backlog: [NodeID: (attempt: Int, events: [AgentChannelEvent])] = [:]
        var statuses: [NodeID: NodeStatus]
        var history: [NodeEvent] = []
        var waiters: [UUID: Waiter] = [:]
        var timerSleepingUntil: Duration?
        var timerTask: Task<Void, Never>?
        var sleepTask: Task<Void, any Error>?
        var kicked = false
        /// Pings sent so far (their ids).
        var pings: UInt64 = 0
        var started = false
        var stopped = false
    }

    private let state: Mutex<State>

    public init(
        inventory: ClusterInventory, transport: any AgentTransport, clock: any SupervisionClock = SystemSupervisionClock(),
        backoff: BackoffPolicy = .init(), helloTimeout: Duration = .seconds(30), messageCapacityBytes: Int = 16 << 20,
        wallClock: @escaping @Sendable () -> Date = { Date() }, random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        forwardsHeartbeats: Bool = true
    ) {
        self.inventory = inventory
        self.forwardsHeartbeats = forwardsHeartbeats
        self.transport = transport
        self.clock = clock
        self.wallClock = wallClock
        self.random = random
        (events, eventContinuation) = AsyncStream.makeStream(of: NodeEvent.self)
        messages = BoundedAsyncQueue(capacity: messageCapacityBytes, cost: NodeManager.approximateBytes)
        let supervisor = NodeSupervisor(
            nodes: inventory.nodes.map(\.id),
            configuration: .init(
                heartbeat: inventory.heartbeat, backoff: backoff, helloTimeout: helloTimeout, pingInterval: inventory.heartbeat.interval))
        state = Mutex(
            State(
                supervisor: supervisor,
                statuses: Dictionary(uniqueKeysWithValues: inventory.nodes.map { ($0.id, NodeStatus(entry: $0)) })))
    }

    /// Rough in-memory size of a message, for the bounded message queue.
    @Sendable static func approximateBytes(_ m: NodeMessage) -> Int {
        if case .log(let batch) = m.message { return 256 + batch.lines.reduce(0) { $0 + $1.utf8.count + 16 } }
        return 256
    }

    // MARK: Public API

    /// Starts connecting to every node at once and returns; watch `events` or use `waitUntil`.
    public func start() {
        let output = state.withLock { s -> NodeSupervisor.Output? in
            guard !s.started else { return nil }
            s.started = true
            return s.supervisor.start(now: clock.now())
        }
        guard let output else { return }
        apply(output)
        let task = Task { [self] in await timerLoop() }
        state.withLock { $0.timerTask = task }
    }

    /// Current status of every node, in inventory order.
    public func statuses() -> [NodeStatus] {
        state.withLock { s in inventory.nodes.map { s.statuses[$0.id]! } }
    }

    public func status(of node: NodeID) -> NodeStatus? { state.withLock { $0.statuses[node] } }

    /// Every event so far (also delivered on `events`).
    public func eventHistory() -> [NodeEvent] { state.withLock { $0.history } }

    /// Returns true once `predicate` holds for the node states, false if the calling task is cancelled or the
    /// manager shuts down first.
    public func waitUntil(_ predicate: @escaping @Sendable ([NodeID: NodeState]) -> Bool) async -> Bool {
        let id = UUID()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                // Register first, then evaluate outside the lock (the predicate may call into the manager);
                // a transition in between evaluates it again in `apply`.
                let states = state.withLock { s -> [NodeID: NodeState]? in
                    if s.stopped || Task.isCancelled { return nil }
                    s.waiters[id] = Waiter(predicate: predicate, continuation: c)
                    return s.supervisor.states
                }
                guard let states else {
                    c.resume(returning: false)
                    return
                }
                if predicate(states), let w = state.withLock({ $0.waiters.removeValue(forKey: id) }) {
                    w.continuation.resume(returning: true)
                }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume(returning: false)
        }
    }

    /// Waits until no node is `connecting` any more (each is ready, unreachable or lost).
    public func waitUntilSettled() async -> Bool {
        let ids = Set(inventory.nodes.map(\.id))
        return await waitUntil { states in ids.allSatisfy { states[$0] != nil && states[$0] != .connecting } }
    }

    /// Sends `message` to a node's agent. False when the node has no open channel.
    @discardableResult
    public func send(_ message: ControllerMessage, to node: NodeID) -> Bool {
        guard let channel = state.withLock({ $0.channels[node]?.channel }) else { return false }
        return channel.send(message)
    }

    /// Closes every channel (agents stop their ranks) and ends the streams.
    public func shutdown() async {
        let (channels, timer, sleep, waiters) = state.withLock { s in
            s.stopped = true
            let c = s.channels.values.map(\.channel)
            s.channels.removeAll()
            let w = s.waiters.values.map(\.continuation)
            s.waiters.removeAll()
            return (c, s.timerTask, s.sleepTask, w)
        }
        channels.forEach { $0.close() }
        sleep?.cancel()
        timer?.cancel()
        await timer?.value
        waiters.forEach { $0.resume(returning: false) }
        eventContinuation.finish()
        messages.finish()
    }

    // MARK: Supervisor IO

    private func apply(_ output: NodeSupervisor.Output) {
        guard !output.transitions.isEmpty || !output.actions.isEmpty else {
            kickIfEarlier()
            return
        }
        let now = wallClock()
        var toClose: [any AgentChannel] = []
        var toConnect: [(NodeEntry, Int)] = []
        var toPing: [(any AgentChannel, UInt64)] = []
        let satisfied = state.withLock { s -> ([NodeID: NodeState], [UUID: @Sendable ([NodeID: NodeState]) -> Bool]) in
            for t in output.transitions {
                let event = NodeEvent(timestamp: now, node: t.node, from: t.from, to: t.to, cause: t.cause)
                s.history.append(event)
                if s.history.count > 10_000 { s.history.removeFirst(1000) }
                s.statuses[t.node]?.state = t.to
                s.statuses[t.node]?.since = now
                s.statuses[t.node]?.cause = t.cause
                eventContinuation.yield(event)
            }
            for action in output.actions {
                switch action {
                case .connect(let node, let attempt):
                    if let old = s.channels.removeValue(forKey: node) { toClose.append(old.channel) }
                    if !s.stopped, let entry = s.statuses[node]?.entry { toConnect.append((entry, attempt)) }
                case .disconnect(let node, _):
                    if let old = s.channels.removeValue(forKey: node) { toClose.append(old.channel) }
                case .ping(let node):
                    if let c = s.channels[node]?.channel {
                        s.pings += 1
                        toPing.append((c, s.pings))
                    }
                }
            }
            return (s.supervisor.states, s.waiters.mapValues(\.predicate))
        }
        // Predicates run outside the lock; a waiter is resumed by whoever removes it first.
        let (states, predicates) = satisfied
        let ids = predicates.filter { $0.value(states) }.map(\.key)
        if !ids.isEmpty {
            let continuations = state.withLock { s in ids.compactMap { s.waiters.removeValue(forKey: $0)?.continuation } }
            continuations.forEach { $0.resume(returning: true) }
        }
        toClose.forEach { $0.close() }
        for (channel, id) in toPing { _ = channel.send(.ping(Ping(id: id))) }
        for (entry, attempt) in toConnect { connect(entry, attempt: attempt) }
        kickIfEarlier()
    }

    private func connect(_ entry: NodeEntry, attempt: Int) {
        let node = entry.id
        state.withLock { $0.backlog[node] = (attempt, []) }
        Task { [self] in
            do {
                let channel = try await transport.open(node: entry, inventory: inventory) { [self] event in
                    handle(event, node: node, attempt: attempt)
                }
                let (output, keep) = state.withLock { s -> (NodeSupervisor.Output, Bool) in
                    let out = s.supervisor.channelOpened(node, attempt: attempt, now: clock.now())
                    let current = s.supervisor.currentAttempt(of: node) == attempt && !s.stopped
                        && (s.supervisor.state(of: node) == .connecting || s.supervisor.state(of: node) == .ready)
                    if current { s.channels[node] = (attempt, channel) }
                    return (out, current)
                }
                if !keep { channel.close() }
                apply(output)
                drainBacklog(node, attempt: attempt)
            } catch {
                let output = state.withLock {
                    $0.supervisor.connectFailed(node, attempt: attempt, error: "\(error)", now: clock.now(), random: random())
                }
                apply(output)
                drainBacklog(node, attempt: attempt)
            }
        }
    }

    /// Processes the events held back while `open` ran, oldest first, including any that arrive
    /// while this runs; then the backlog goes away and events are processed as they come.
    private func drainBacklog(_ node: NodeID, attempt: Int) {
        while let event = state.withLock({ s -> AgentChannelEvent? in
            guard let b = s.backlog[node], b.attempt == attempt else { return nil }
            guard let first = b.events.first else {
                s.backlog[node] = nil
                return nil
            }
            s.backlog[node]!.events.removeFirst()
            return first
        }) {
            process(event, node: node, attempt: attempt)
        }
    }

    /// Runs on the transport's thread for each event of a channel: held back while its `open`
    /// has not returned (or its backlog is still being replayed), else processed at once.
    private func handle(_ event: AgentChannelEvent, node: NodeID, attempt: Int) {
        let deferred = state.withLock { s -> Bool in
            guard !s.stopped, s.backlog[node]?.attempt == attempt else { return false }
            s.backlog[node]!.events.append(event)
            return true
        }
        if !deferred { process(event, node: node, attempt: attempt) }
    }

    /// One event of a registered channel (or of a stale attempt, which the supervisor ignores).
    private func process(_ event: AgentChannelEvent, node: NodeID, attempt: Int) {
        switch event {
        case .message(let message):
            let now = clock.now()
            var output = NodeSupervisor.Output()
            let current = state.withLock { s -> Bool in
                guard s.supervisor.currentAttempt(of: node) == attempt else { return false }
                switch message {
                case .hello(let hello):
                    s.statuses[node]?.hello = hello
                    if !hello.accelerators.isEmpty || s.statuses[node]?.entry.accelerators.isEmpty == false {
                        s.statuses[node]?.entry.accelerators = hello.accelerators
                    }
                    output = s.supervisor.helloReceived(
                        node, attempt: attempt, protocolVersion: hello.protocolVersion, now: now, random: random())
                case .heartbeat(let hb):
                    s.statuses[node]?.lastHeartbeat = hb
                    s.supervisor.heard(node, attempt: attempt, now: now)
                default:
                    s.supervisor.heard(node, attempt: attempt, now: now)
                }
                return true
            }
            // Only a hello can move a deadline earlier; hearing from a node moves its own later. Skipping `apply`
            // for the rest keeps a message O(1): the deadline scan there is over every node.
            if case .hello = message { apply(output) }
            guard current else { return }
            if case .heartbeat = message {
                if forwardsHeartbeats { messages.send(NodeMessage(node: node, message: message), dropIfFull: true) }
            } else {
                messages.send(NodeMessage(node: node, message: message))
            }
        case .closed(let reason):
            let output = state.withLock { s -> NodeSupervisor.Output in
                if s.channels[node]?.attempt == attempt { s.channels[node] = nil }
                // After shutdown, channels closing is the expected end, not a node failure.
                if s.stopped { return NodeSupervisor.Output() }
                return s.supervisor.channelClosed(node, attempt: attempt, reason: reason.description, now: clock.now(), random: random())
            }
            apply(output)
        }
    }

    // MARK: Timer

    /// Wakes the timer when the supervisor's next deadline is earlier than the one it sleeps towards.
    private func kickIfEarlier() {
        let task = state.withLock { s -> Task<Void, any Error>? in
            // A timer that is not sleeping reads the deadline afresh before it sleeps again.
            guard let next = s.supervisor.nextDeadline, let sleeping = s.timerSleepingUntil, next < sleeping else { return nil }
            s.kicked = true
            return s.sleepTask
        }
        task?.cancel()
    }

    /// The timer wakes at most this often: every node's heartbeat deadline and ping falls at its own time, so
    /// 512 nodes woke it (and scanned them all) about a thousand times a second; now each wake takes every
    /// node due within the slack, which is a small part of a heartbeat interval (at most 50 ms).
    var timerSlack: Duration { min(.milliseconds(50), inventory.heartbeat.interval / 20) }

    private func timerLoop() async {
        var lastTick: Duration?
        while !Task.isCancelled {
            let sleep = state.withLock { s -> Task<Void, any Error>? in
                if s.stopped { return nil }
                if s.kicked {
                    s.kicked = false
                    s.timerSleepingUntil = nil
                    s.sleepTask = nil
                    return nil
                }
                var deadline = s.supervisor.nextDeadline ?? clock.now() + .seconds(3600)
                if let lastTick { deadline = max(deadline, lastTick + timerSlack) }
                s.timerSleepingUntil = deadline
                let t = Task { [clock] in try await clock.sleep(until: deadline) }
                s.sleepTask = t
                return t
            }
            if let sleep { _ = try? await sleep.value }
            if state.withLock({ $0.stopped }) { return }
            let output = state.withLock { s -> NodeSupervisor.Output in
                s.timerSleepingUntil = nil
                s.sleepTask = nil
                let now = clock.now()
                lastTick = now
                return s.supervisor.tick(now: now, random: random())
            }
            apply(output)
        }
    }
}
