import AgentProtocol
import NodeManager
import RingmasterModel
import Testing

@Suite struct NodeSupervisorTests {
    let nodes: [NodeID] = ["a", "b"]
    let config = NodeSupervisor.Configuration(
        heartbeat: HeartbeatSettings(interval: .seconds(1), missed: 3),
        backoff: BackoffPolicy(initial: .milliseconds(500), maximum: .seconds(4), jitter: 0.2), helloTimeout: .seconds(10))

    @Test func startConnectsEveryNodeAtOnce() {
        var s = NodeSupervisor(nodes: nodes, configuration: config)
        let out = s.start(now: .zero)
        #expect(out.actions == [.connect("a", attempt: 1), .connect("b", attempt: 1)])
        #expect(out.transitions.map(\.to) == [.connecting, .connecting])
        #expect(out.transitions.allSatisfy { $0.from == nil })
        #expect(s.nextDeadline == .seconds(10))
    }

    @Test func lostAfterMissedTimesInterval() {
        var s = NodeSupervisor(nodes: ["a"], configuration: config)
        _ = s.start(now: .zero)
        let hello = s.helloReceived("a", attempt: 1, protocolVersion: AgentProtocolVersion.current, now: .seconds(1), random: 0.5)
        #expect(hello.transitions.map(\.to) == [.ready])
        s.heard("a", attempt: 1, now: .seconds(2))
        #expect(s.nextDeadline == .seconds(5))
        #expect(s.tick(now: .milliseconds(4999), random: 0.5) == .init())
        let out = s.tick(now: .seconds(5), random: 0.5)
        #expect(out.transitions.map(\.to) == [.lost])
        #expect(out.transitions.first?.cause.contains("no heartbeat for 3s") == true)
        #expect(out.actions == [.disconnect("a", reason: "heartbeats stopped")])
        // Retried after the first backoff step.
        #expect(s.nextDeadline == .milliseconds(5500))
        let retry = s.tick(now: .milliseconds(5500), random: 0.5)
        #expect(retry.actions == [.connect("a", attempt: 2)])
        #expect(retry.transitions.map { [$0.from, $0.to] } == [[.lost, .connecting]])
    }

    @Test func unreachableRetriesWithExponentialBackoff() {
        var s = NodeSupervisor(nodes: ["a"], configuration: config)
        _ = s.start(now: .zero)
        var now = Duration.zero
        var delays: [Duration] = []
        for attempt in 1...6 {
            let out = s.connectFailed("a", attempt: attempt, error: "refused", now: now, random: 0.5)
            #expect(out.transitions.map(\.to) == [.unreachable])
            let next = s.nextDeadline!
            delays.append(next - now)
            now = next
            #expect(s.tick(now: now, random: 0.5).actions == [.connect("a", attempt: attempt + 1)])
        }
        #expect(delays == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(4), .seconds(4)])
        // A success resets the backoff.
        _ = s.helloReceived("a", attempt: 7, protocolVersion: AgentProtocolVersion.current, now: now, random: 0.5)
        _ = s.channelClosed("a", attempt: 7, reason: "EOF", now: now, random: 0.5)
        #expect(s.nextDeadline! - now == .milliseconds(500))
    }

    @Test func jitterStaysInBounds() {
        let b = BackoffPolicy(initial: .seconds(1), maximum: .seconds(10), jitter: 0.2)
        #expect(b.delay(failures: 1, random: 0) == .milliseconds(800))
        #expect(b.delay(failures: 1, random: 1) == .milliseconds(1200))
        #expect(b.delay(failures: 50, random: 0.5) == .seconds(10))
    }

    @Test func staleAttemptsAreIgnored() {
        var s = NodeSupervisor(nodes: ["a"], configuration: config)
        _ = s.start(now: .zero)
        _ = s.connectFailed("a", attempt: 1, error: "x", now: .zero, random: 0.5)
        _ = s.tick(now: .seconds(1), random: 0.5)  // attempt 2
        #expect(s.helloReceived("a", attempt: 1, protocolVersion: 1, now: .seconds(1), random: 0.5) == .init())
        #expect(s.channelClosed("a", attempt: 1, reason: "old", now: .seconds(1), random: 0.5) == .init())
        #expect(s.state(of: "a") == .connecting)
    }

    @Test func helloTimeoutAndWrongProtocol() {
        var s = NodeSupervisor(nodes: ["a", "b"], configuration: config)
        _ = s.start(now: .zero)
        let v = s.helloReceived("b", attempt: 1, protocolVersion: 99, now: .seconds(1), random: 0.5)
        #expect(v.transitions.map(\.to) == [.unreachable])
        #expect(v.actions.contains(.disconnect("b", reason: "protocol version 99")))
        let out = s.tick(now: .seconds(10), random: 0.5)
        #expect(out.transitions.contains { $0.node == "a" && $0.to == .unreachable && $0.cause.contains("no hello") })
    }

    @Test func channelClosedWhileConnectingIsUnreachable() {
        var s = NodeSupervisor(nodes: ["a"], configuration: config)
        _ = s.start(now: .zero)
        let out = s.channelClosed("a", attempt: 1, reason: "agent exited", now: .zero, random: 0.5)
        #expect(out.transitions.map(\.to) == [.unreachable])
    }

    @Test func aReadyNodeIsPingedEveryIntervalUntilItIsLost() {
        var c = config
        c.pingInterval = .seconds(1)
        var s = NodeSupervisor(nodes: ["a", "b"], configuration: c)
        _ = s.start(now: .zero)
        _ = s.helloReceived("a", attempt: 1, protocolVersion: AgentProtocolVersion.current, now: .milliseconds(500), random: 0.5)
        // "b" never says hello: it is never pinged.
        #expect(s.nextDeadline == .milliseconds(1500))
        #expect(s.tick(now: .milliseconds(1499), random: 0.5) == .init())
        #expect(s.tick(now: .milliseconds(1500), random: 0.5).actions == [.ping("a")])
        s.heard("a", attempt: 1, now: .milliseconds(1600))
        // A late tick sends one ping, and the next is due one interval after it.
        #expect(s.tick(now: .milliseconds(3200), random: 0.5).actions == [.ping("a")])
        #expect(s.nextDeadline == .milliseconds(4200))
        // The agent falls silent (a partition): pinged on until it is lost 3 s after its last word, then never.
        #expect(s.tick(now: .milliseconds(4200), random: 0.5).actions == [.ping("a")])
        let lost = s.tick(now: .milliseconds(4600), random: 0.5)
        #expect(lost.actions == [.disconnect("a", reason: "heartbeats stopped")])
        #expect(lost.transitions.map(\.to) == [.lost])
        // Reconnected: a fresh agent's hello starts the pings again, one interval after it.
        #expect(s.tick(now: .milliseconds(5100), random: 0.5).actions == [.connect("a", attempt: 2)])
        #expect(s.tick(now: .seconds(8), random: 0.5).actions.allSatisfy { $0 != .ping("a") })
        _ = s.helloReceived("a", attempt: 2, protocolVersion: AgentProtocolVersion.current, now: .seconds(8), random: 0.5)
        #expect(s.tick(now: .seconds(9), random: 0.5).actions == [.ping("a")])
    }

    @Test func withoutAPingIntervalNothingIsPinged() {
        var s = NodeSupervisor(nodes: ["a"], configuration: config)
        _ = s.start(now: .zero)
        _ = s.helloReceived("a", attempt: 1, protocolVersion: AgentProtocolVersion.current, now: .zero, random: 0.5)
        for ms in stride(from: 100, through: 2900, by: 100) {
            s.heard("a", attempt: 1, now: .milliseconds(ms))
            #expect(s.tick(now: .milliseconds(ms), random: 0.5).actions.isEmpty)
        }
    }

    @Test func anAgentIsToldToGiveUpAfterTwiceTheControllersLimitAndAtLeastASecondAfterIt() {
        #expect(HeartbeatSettings(interval: .seconds(1), missed: 3).agentSilenceLimit == .seconds(6))
        #expect(HeartbeatSettings(interval: .milliseconds(200), missed: 3).agentSilenceLimit == .milliseconds(1600))
        #expect(HeartbeatSettings(interval: .seconds(5), missed: 2).agentSilenceLimit == .seconds(20))
    }
}
