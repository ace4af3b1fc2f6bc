import AgentProtocol
import NodeManager
import RingmasterModel
import RingmasterTestKit
import SystemUtilities
import Testing

@Suite struct NodeManagerTests {
    /// These tests run on a manual clock; the real-time bound only stops a wait that would never end. It is
    /// generous: on a loaded machine (both cores busy, load ~15) a 5 s bound once ran out before the
    /// manager's timer task got to run.
    static let hangGuard: Duration = .seconds(60)

    func inventory(_ names: [String]) -> ClusterInventory {
        ClusterInventory(name: "t", nodes: names.map { NodeEntry(id: NodeID($0), host: $0) }, isLocal: true)
    }

    func makeManager(_ names: [String], transport: FakeAgentTransport, clock: ManualClock) -> NodeManager {
        NodeManager(
            inventory: inventory(names), transport: transport, clock: clock,
            backoff: BackoffPolicy(initial: .milliseconds(500), maximum: .seconds(8), jitter: 0.2), helloTimeout: .seconds(10),
            random: { 0.5 })
    }

    @Test func oneHangingNodeDoesNotDelayTheOthers() async throws {
        let transport = FakeAgentTransport()
        transport.setBehavior("slow", .hang)
        let manager = makeManager(["a", "slow", "b"], transport: transport, clock: ManualClock())
        manager.start()
        for n: NodeID in ["a", "b"] { await transport.waitForChannel(n).sayHello(accelerators: 2) }
        let ok = try await withTimeout(Self.hangGuard, "a and b ready") {
            await manager.waitUntil { $0["a"] == .ready && $0["b"] == .ready }
        }
        #expect(ok)
        #expect(manager.status(of: "slow")?.state == .connecting)
        #expect(manager.status(of: "a")?.hello?.accelerators.count == 2)
        #expect(manager.status(of: "a")?.entry.accelerators.count == 2)
        transport.release("slow")
        await manager.shutdown()
    }

    /// The controller's manager keeps heartbeats to itself (`forwardsHeartbeats: false`): the node's status has
    /// them, the message stream only what the runner acts on.
    @Test func heartbeatsStayWithTheManagerWhenItIsToldSo() async throws {
        let transport = FakeAgentTransport()
        let manager = NodeManager(inventory: inventory(["a"]), transport: transport, clock: ManualClock(), forwardsHeartbeats: false)
        manager.start()
        let channel = await transport.waitForChannel("a")
        channel.sayHello()
        let ref = RankRef(job: "j", attempt: 1, rank: 0)
        channel.heartbeat(1)
        channel.deliver(.started(RankStarted(rank: ref, pid: 5)))
        var it = manager.messages.makeAsyncIterator()
        if case .hello = await it.next()?.message {} else { Issue.record("expected hello first") }
        if case .started(let s)? = await it.next()?.message { #expect(s.pid == 5) } else { Issue.record("expected started, not the heartbeat") }
        #expect(manager.status(of: "a")?.lastHeartbeat?.sequence == 1)
        await manager.shutdown()
    }

    @Test func eventsAndMessagesFlow() async throws {
        let transport = FakeAgentTransport()
        let manager = makeManager(["a"], transport: transport, clock: ManualClock())
        manager.start()
        let channel = await transport.waitForChannel("a")
        channel.sayHello()
        let ref = RankRef(job: "j", attempt: 1, rank: 0)
        channel.deliver(.started(RankStarted(rank: ref, pid: 5)))
        var it = manager.messages.makeAsyncIterator()
        let first = await it.next()
        #expect(first?.node == "a")
        if case .hello = first?.message {} else { Issue.record("expected hello first") }
        if case .started(let s)? = await it.next()?.message { #expect(s.pid == 5) } else { Issue.record("expected started") }
        #expect(manager.send(.ping(Ping(id: 1)), to: "a"))
        #expect(channel.sent == [.ping(Ping(id: 1))])
        #expect(!manager.send(.ping(Ping(id: 1)), to: "nope"))
        let history = manager.eventHistory()
        #expect(history.map(\.to) == [.connecting, .ready])
        #expect(history.first?.from == nil && history.last?.from == .connecting)
        #expect(history.last?.cause == "agent said hello")
        await manager.shutdown()
        #expect(channel.isClosed)
        var events: [NodeEvent] = []
        for await e in manager.events { events.append(e) }
        #expect(events.map(\.to) == [.connecting, .ready])
    }

    /// An agent's hello can arrive before the transport's `open` has returned the channel. The
    /// node must not look ready until messages can be sent to it.
    @Test func aHelloBeforeOpenReturnsWaitsForTheChannel() async throws {
        let transport = FakeAgentTransport()
        transport.setBehavior("a", .helloBeforeOpenReturns)
        let manager = makeManager(["a"], transport: transport, clock: ManualClock())
        manager.start()
        await transport.waitForOpen("a", count: 1)
        #expect(manager.status(of: "a")?.state == .connecting)
        #expect(!manager.send(.ping(Ping(id: 1)), to: "a"))
        transport.release("a")
        let ready = try await withTimeout(Self.hangGuard, "a ready") { await manager.waitUntil { $0["a"] == .ready } }
        #expect(ready)
        #expect(manager.send(.ping(Ping(id: 2)), to: "a"))
        #expect(transport.channel("a")?.sent == [.ping(Ping(id: 2))])
        var it = manager.messages.makeAsyncIterator()
        if case .hello = await it.next()?.message {} else { Issue.record("expected the held-back hello") }
        #expect(manager.eventHistory().map(\.to) == [.connecting, .ready])
        await manager.shutdown()
    }

    /// The pings are what a node's agent hears from its controller: when they stop, it fences itself.
    @Test func aReadyNodeIsPingedEachHeartbeatInterval() async throws {
        let (_, clock, manager, channel) = await readyNode("a")
        #expect(channel.sent.isEmpty)
        clock.advance(by: .seconds(1))
        try await eventually("the first ping") { channel.sent == [.ping(Ping(id: 1))] }
        try await heartbeat(channel, manager, sequence: 1)
        clock.advance(by: .seconds(1))
        try await eventually("the second ping") { channel.sent == [.ping(Ping(id: 1)), .ping(Ping(id: 2))] }
        await manager.shutdown()
    }

    @Test func agentsAreStartedWithTheSilenceLimitThatMatchesThePings() {
        let inventory = ClusterInventory(
            name: "t", nodes: [NodeEntry(id: "a", host: "a")], heartbeat: HeartbeatSettings(interval: .milliseconds(500), missed: 4),
            isLocal: true)
        let options = AgentLaunchSettings.options(for: inventory.nodes[0], inventory: inventory, shutdownGraceMilliseconds: nil)
        #expect(options.heartbeatMilliseconds == 500 && options.controllerSilenceMilliseconds == 4000)
        #expect(options.arguments.contains("--controller-silence-ms"))
        #expect(options.reportBatchMilliseconds == nil, "step reports leave at once unless the inventory says otherwise")
        var batched = inventory
        batched.heartbeat.reportBatch = .milliseconds(100)
        #expect(AgentLaunchSettings.options(for: inventory.nodes[0], inventory: batched, shutdownGraceMilliseconds: nil)
            .reportBatchMilliseconds == 100)
    }

    /// A manager of one node on a manual clock, once the node's agent has said hello.
    func readyNode(_ node: NodeID) async -> (FakeAgentTransport, ManualClock, NodeManager, FakeAgentChannel) {
        let transport = FakeAgentTransport()
        let clock = ManualClock()
        let manager = makeManager([node.rawValue], transport: transport, clock: clock)
        manager.start()
        let channel = await transport.waitForChannel(node)
        channel.sayHello()
        _ = await manager.waitUntil { $0[node] == .ready }
        return (transport, clock, manager, channel)
    }

    /// Delivers a heartbeat and waits until the manager has taken it, before the test moves the clock: an
    /// event that comes while the channel's held-back events are still being replayed (just after `ready`)
    /// is queued behind them, and taken later it would be heard at a later time than the test means.
    func heartbeat(_ channel: FakeAgentChannel, _ manager: NodeManager, sequence: UInt64) async throws {
        channel.heartbeat(sequence)
        try await eventually("heartbeat \(sequence) taken", within: Self.hangGuard) {
            manager.status(of: channel.node)?.lastHeartbeat?.sequence == sequence
        }
    }

    @Test func silentNodeIsLostAfterMissedIntervalsThenReconnects() async throws {
        let (transport, clock, manager, first) = await readyNode("a")
        clock.advance(by: .seconds(2))
        try await heartbeat(first, manager, sequence: 1)  // heard at t=2: lost at t=5
        clock.advance(by: .milliseconds(2900))
        #expect(manager.status(of: "a")?.state == .ready)
        clock.advance(by: .milliseconds(100))
        let lost = try await withTimeout(Self.hangGuard, "lost") { await manager.waitUntil { $0["a"] == .lost } }
        #expect(lost)
        #expect(first.isClosed)
        #expect(manager.eventHistory().last?.cause.contains("no heartbeat for 3s") == true)
        // Backoff 500 ms, then a new channel.
        clock.advance(by: .milliseconds(500))
        let second = await transport.waitForChannel("a", count: 2)
        second.sayHello()
        #expect(try await withTimeout(Self.hangGuard, "ready again") { await manager.waitUntil { $0["a"] == .ready } })
        #expect(manager.eventHistory().map(\.to) == [.connecting, .ready, .lost, .connecting, .ready])
        await manager.shutdown()
    }

    @Test func unreachableNodeIsRetriedWithBackoffAndJoins() async throws {
        let transport = FakeAgentTransport()
        transport.setBehavior("a", .fail("connection refused"), .fail("connection refused"), .accept)
        let clock = ManualClock()
        let manager = makeManager(["a", "b"], transport: transport, clock: clock)
        manager.start()
        await transport.waitForChannel("b").sayHello()
        #expect(try await withTimeout(Self.hangGuard, "a unreachable") { await manager.waitUntil { $0["a"] == .unreachable && $0["b"] == .ready } })
        #expect(manager.status(of: "a")?.cause?.contains("connection refused; retry in 500ms") == true)
        clock.advance(by: .milliseconds(500))
        await transport.waitForOpen("a", count: 2)
        #expect(try await withTimeout(Self.hangGuard, "a unreachable again") {
            await manager.waitUntil { _ in manager.status(of: "a")?.cause?.contains("retry in 1s") == true }
        })
        clock.advance(by: .seconds(1))
        await transport.waitForChannel("a").sayHello()
        #expect(try await withTimeout(Self.hangGuard, "a ready") { await manager.waitUntil { $0["a"] == .ready } })
        #expect(transport.openCount("a") == 3)
        #expect(transport.openCount("b") == 1)
        await manager.shutdown()
    }

    @Test func droppedChannelMakesNodeLost() async throws {
        let transport = FakeAgentTransport()
        let manager = makeManager(["a"], transport: transport, clock: ManualClock())
        manager.start()
        let channel = await transport.waitForChannel("a")
        channel.sayHello()
        _ = await manager.waitUntil { $0["a"] == .ready }
        channel.drop(.transportError("SSH connection lost"))
        #expect(try await withTimeout(Self.hangGuard, "lost") { await manager.waitUntil { $0["a"] == .lost } })
        #expect(manager.eventHistory().last?.cause.contains("SSH connection lost") == true)
        await manager.shutdown()
    }

    @Test func boundedQueueBlocksProducersAndDropsHeartbeats() async throws {
        let q = BoundedAsyncQueue<Int>(capacity: 10, cost: { $0 })
        #expect(q.send(6))
        #expect(!q.send(6, dropIfFull: true))
        #expect(q.bufferedCost == 6)
        let sent = BoxFlag()
        let t = Thread { q.send(7); sent.set() }
        t.start()
        var it = q.makeAsyncIterator()
        #expect(await it.next() == 6)
        #expect(await it.next() == 7)
        try await eventually("producer unblocked") { sent.value }
        q.finish()
        #expect(await it.next() == nil)
    }
}

import Foundation
import Synchronization

final class BoxFlag: Sendable {
    private let m = Mutex(false)
    func set() { m.withLock { $0 = true } }
    var value: Bool { m.withLock { $0 } }
}
