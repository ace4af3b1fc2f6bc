import AgentProtocol
import NodeManager
import RingmasterModel
import Synchronization

/// An in-memory transport: tests decide per node whether `open` succeeds, fails or hangs, and then play
/// the agent's part on the returned channel.
public final class FakeAgentTransport: AgentTransport {
    public enum Behavior: Sendable {
        case accept
        case fail(String)
        /// `open` does not return until `release(node)`.
        case hang
        /// The agent's hello reaches the handler while `open` is still running; `open` then
        /// returns the channel only at `release(node)` (an agent quicker than its transport).
        case helloBeforeOpenReturns
    }

    public struct OpenFailed: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    private struct State {
        var behaviors: [NodeID: [Behavior]] = [:]
        var channels: [NodeID: [FakeAgentChannel]] = [:]
        var hanging: [NodeID: [CheckedContinuation<Void, Never>]] = [:]
        var releasedEarly: Set<NodeID> = []
        var openWaiters: [(NodeID, Int, CheckedContinuation<Void, Never>)] = []
        var opens: [NodeID: Int] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Behaviours for the next opens of `node`, in order; the last one repeats.
    public func setBehavior(_ node: NodeID, _ behaviors: Behavior...) {
        state.withLock { $0.behaviors[node] = behaviors }
    }

    public func release(_ node: NodeID) {
        let waiting = state.withLock { s in
            guard let w = s.hanging.removeValue(forKey: node) else {
                s.releasedEarly.insert(node)
                return [CheckedContinuation<Void, Never>]()
            }
            return w
        }
        waiting.forEach { $0.resume() }
    }

    private func hold(_ node: NodeID) async {
        await withCheckedContinuation { c in
            let early = state.withLock { s in
                if s.releasedEarly.remove(node) != nil { return true }
                s.hanging[node, default: []].append(c)
                return false
            }
            if early { c.resume() }
        }
    }

    public func openCount(_ node: NodeID) -> Int { state.withLock { $0.opens[node] ?? 0 } }

    /// The latest channel opened to `node`.
    public func channel(_ node: NodeID) -> FakeAgentChannel? { state.withLock { $0.channels[node]?.last } }

    /// Returns once `open` has been called `count` times for `node`.
    public func waitForOpen(_ node: NodeID, count: Int) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s -> Bool in
                if (s.opens[node] ?? 0) >= count { return true }
                s.openWaiters.append((node, count, c))
                return false
            }
            if done { c.resume() }
        }
    }

    /// Returns once `node` has an accepted channel number `count`.
    public func waitForChannel(_ node: NodeID, count: Int = 1) async -> FakeAgentChannel {
        while true {
            if let chans = state.withLock({ $0.channels[node] }), chans.count >= count { return chans[count - 1] }
            await waitForOpen(node, count: count)
            await Task.yield()
        }
    }

    public func open(
        node: NodeEntry, inventory: ClusterInventory, handler: @escaping @Sendable (AgentChannelEvent) -> Void
    ) async throws -> any AgentChannel {
        let (behavior, waiters) = state.withLock { s -> (Behavior, [CheckedContinuation<Void, Never>]) in
            var list = s.behaviors[node.id] ?? [.accept]
            let b = list.first ?? .accept
            if list.count > 1 { list.removeFirst() }
            s.behaviors[node.id] = list
            let n = (s.opens[node.id] ?? 0) + 1
            s.opens[node.id] = n
            switch b {
            case .accept, .helloBeforeOpenReturns:
                s.channels[node.id, default: []].append(FakeAgentChannel(node: node.id, handler: handler))
            default: break
            }
            let ready = s.openWaiters.filter { $0.0 == node.id && $0.1 <= n }.map(\.2)
            s.openWaiters.removeAll { $0.0 == node.id && $0.1 <= n }
            return (b, ready)
        }
        if case .helloBeforeOpenReturns = behavior {
            // Before the open waiters run, so a test that saw the open also saw the hello handled.
            state.withLock { $0.channels[node.id]!.last! }.sayHello()
        }
        waiters.forEach { $0.resume() }
        switch behavior {
        case .accept:
            return state.withLock { $0.channels[node.id]!.last! }
        case .helloBeforeOpenReturns:
            await hold(node.id)
            return state.withLock { $0.channels[node.id]!.last! }
        case .fail(let message):
            throw OpenFailed(message: message)
        case .hang:
            await hold(node.id)
            throw OpenFailed(message: "released")
        }
    }
}

/// The agent's end of a fake channel.
public final class FakeAgentChannel: AgentChannel {
    public let node: NodeID
    private let handler: @Sendable (AgentChannelEvent) -> Void
    private let state = Mutex((sent: [ControllerMessage](), closed: false))

    init(node: NodeID, handler: @escaping @Sendable (AgentChannelEvent) -> Void) {
        self.node = node
        self.handler = handler
    }

    public func send(_ message: ControllerMessage) -> Bool {
        state.withLock { s in
            guard !s.closed else { return false }
            s.sent.append(message)
            return true
        }
    }

    public func close() {
        let first = state.withLock { s -> Bool in
            defer { s.closed = true }
            return !s.closed
        }
        if first { handler(.closed(.closedByController)) }
    }

    public var sent: [ControllerMessage] { state.withLock { $0.sent } }
    public var isClosed: Bool { state.withLock { $0.closed } }

    /// The agent says something.
    public func deliver(_ message: AgentMessage) { handler(.message(message)) }

    /// A `hello` with simulated facts.
    public func sayHello(protocolVersion: Int = AgentProtocolVersion.current, accelerators: Int = 0) {
        deliver(
            .hello(
                Hello(
                    protocolVersion: protocolVersion, buildHash: "fake", agentPID: 1,
                    host: HostFacts(hostname: node.rawValue, os: "FakeOS", kernel: "0", cpuModel: "fake", cpuCount: 4, memoryBytes: 1 << 30),
                    accelerators: Accelerator.simulated(count: accelerators, node: node.rawValue))))
    }

    public func heartbeat(_ sequence: UInt64 = 1) {
        deliver(
            .heartbeat(
                Heartbeat(
                    sequence: sequence, load: HostLoad(cpuBusy: 0, loadAverage1m: 0, memoryUsedBytes: 0, memoryTotalBytes: 1 << 30),
                    ranks: [], agentRSSBytes: 0, malformedReports: 0)))
    }

    /// The channel drops (agent died, SSH connection lost).
    public func drop(_ reason: ChannelCloseReason = .endOfStream(nil)) {
        let first = state.withLock { s -> Bool in
            defer { s.closed = true }
            return !s.closed
        }
        if first { handler(.closed(reason)) }
    }
}
