import AgentProtocol
import NodeManager
import RingmasterModel
import Testing

/// The keepalive of Slurm inventories: a `ping` to every ready node each interval, none to other nodes.
@Suite struct KeepaliveTests {
    let config = NodeSupervisor.Configuration(
        heartbeat: HeartbeatSettings(interval: .seconds(1), missed: 3),
        backoff: BackoffPolicy(initial: .milliseconds(500), maximum: .seconds(4), jitter: 0.2), helloTimeout: .seconds(10),
        keepalive: .seconds(1))

    @Test func aReadyNodeIsPingedEveryIntervalUntilItIsLost() {
        var s = NodeSupervisor(nodes: ["a", "b"], configuration: config)
        _ = s.start(now: .zero)
        _ = s.helloReceived("a", attempt: 1, protocolVersion: AgentProtocolVersion.current, now: .seconds(1), random: 0.5)
        #expect(s.nextDeadline == .seconds(2))
        #expect(s.tick(now: .milliseconds(1999), random: 0.5) == .init())
        #expect(s.tick(now: .seconds(2), random: 0.5).actions == [.ping("a")])
        s.heard("a", attempt: 1, now: .seconds(2))
        #expect(s.tick(now: .seconds(3), random: 0.5).actions == [.ping("a")])
        // b never said hello: never pinged. a's heartbeats stop: lost, and pinged no more.
        let lost = s.tick(now: .seconds(5), random: 0.5)
        #expect(lost.actions.first == .ping("a") && lost.actions.contains(.disconnect("a", reason: "heartbeats stopped")))
        #expect(!s.tick(now: .seconds(6), random: 0.5).actions.contains(.ping("a")))
    }

    @Test func withoutAKeepaliveNothingIsPinged() {
        var plain = config
        plain.keepalive = nil
        var s = NodeSupervisor(nodes: ["a"], configuration: plain)
        _ = s.start(now: .zero)
        _ = s.helloReceived("a", attempt: 1, protocolVersion: AgentProtocolVersion.current, now: .seconds(1), random: 0.5)
        s.heard("a", attempt: 1, now: .seconds(2))
        #expect(s.nextDeadline == .seconds(5))
        #expect(s.tick(now: .seconds(3), random: 0.5) == .init())
    }
}
