import AgentProtocol
import NodeManager
import RingmasterModel
import SimulatedNodes
import Testing

/// A simulated agent on a manual clock: controller messages go in as protocol bytes, what it writes is decoded by
/// the node manager's own decoder.
final class AgentHarness {
    var agent: SimulatedAgent
    var decoder = AgentStreamDecoder()
    private(set) var now: Duration = .zero
    private(set) var received: [AgentMessage] = []
    private(set) var directories: [String] = []

    static let accelerators = Accelerator.simulated(count: 8, kind: .nvidia, node: "sim-0")

    init(settings: SimulationSettings = SimulationSettings(stepTime: .seconds(1), checkpointEvery: 2),
         heartbeat: HeartbeatSettings = HeartbeatSettings(interval: .seconds(1), missed: 3)) {
        agent = SimulatedAgent(node: "sim-0", index: 0, settings: settings, heartbeat: heartbeat, shutdownGrace: .seconds(2))
        agent.begin(accelerators: Self.accelerators, now: .zero)
        collect()
    }

    @discardableResult
    func collect() -> [AgentMessage] {
        directories += agent.takeStepDirectories()
        let new = decoder.feed(agent.takeOutput())
        #expect(decoder.violation == nil)
        received += new
        return new
    }

    /// Moves the clock to `ms`, handing the agent what is due; returns the messages it wrote.
    @discardableResult
    func at(_ ms: Int, send messages: ControllerMessage...) -> [AgentMessage] {
        now = .milliseconds(ms)
        if messages.isEmpty {
            agent.tick(now: now)
        } else {
            agent.receive(messages.flatMap { try! AgentWire.encodeLine($0) }, now: now)
        }
        return collect()
    }

    /// Ticks every `step` ms up to `ms`, as the shard thread would at each wake.
    @discardableResult
    func run(until ms: Int, every step: Int = 100) -> [AgentMessage] {
        var out: [AgentMessage] = []
        var t = Int(now.seconds * 1000)
        while t < ms {
            t = min(ms, t + step)
            out += at(t)
        }
        return out
    }
}

func launch(_ rank: Int, argv: [String] = ["sim"], env: [String: String] = [:]) -> ControllerMessage {
    .launch(LaunchRequest(rank: RankRef(job: "job-1", attempt: 1, rank: rank), argv: argv, env: env, logDir: "/logs"))
}

extension [AgentMessage] {
    var steps: [Int] { compactMap { if case .progress(let p) = $0 { p.step } else { nil } } }
    var checkpoints: [Int] { compactMap { if case .checkpoint(let c) = $0 { c.step } else { nil } } }
    var exits: [RankExited] { compactMap { if case .exited(let e) = $0 { e } else { nil } } }
    var started: [RankStarted] { compactMap { if case .started(let s) = $0 { s } else { nil } } }
    var heartbeats: [Heartbeat] { compactMap { if case .heartbeat(let h) = $0 { h } else { nil } } }
}

@Suite struct SimulatedAgentTests {
    @Test func saysHelloWithItsAcceleratorsThenHeartbeatsEachInterval() {
        let h = AgentHarness()
        guard case .hello(let hello) = h.received.first else {
            Issue.record("no hello first: \(h.received)")
            return
        }
        #expect(hello.accelerators == AgentHarness.accelerators)
        #expect(hello.agentPID >= SimulatedAgent.firstVirtualPID)
        let beats = h.run(until: 3500).heartbeats
        #expect(beats.map(\.sequence) == [1, 2, 3])
        #expect(h.agent.nextWake == .seconds(4))
    }

    @Test func aVirtualRankReportsStepsAndCheckpointsThroughTheProtocol() {
        let h = AgentHarness()
        let first = h.at(0, send: launch(0, env: ["RINGMASTER_CHECKPOINT_DIR": "/ckpt/job-1.abc"]), launch(1))
        #expect(first.started.map(\.rank.rank) == [0, 1])
        // Virtual pids are above any real pid, so no real process is ever signalled by mistake.
        #expect(first.started.allSatisfy { $0.pid > SimulatedAgent.firstVirtualPID })
        let reports = h.run(until: 4000)
        #expect(reports.steps == [1, 1, 2, 2, 3, 3, 4, 4])
        #expect(reports.checkpoints == [2, 2, 4, 4])
        // Rank 0 has a checkpoint directory: it "writes" its shard folder before it reports.
        #expect(h.directories == ["/ckpt/job-1.abc/step-2", "/ckpt/job-1.abc/step-4"])
        // The live ranks are in every heartbeat, as the real agent reports them.
        #expect(reports.heartbeats.last?.ranks.map(\.rank.rank) == [0, 1])
    }

    @Test func signalsReachTheVirtualRank() {
        let h = AgentHarness()
        let started = h.at(0, send: launch(0), launch(1)).started
        let rank0 = started[0].rank, rank1 = started[1].rank
        h.run(until: 1000)
        // hang-rank: SIGSTOP silences rank 0, rank 1 goes on.
        h.at(1100, send: .signal(SignalRequest(rank: rank0, signal: 19)))
        #expect(h.run(until: 3000).steps == [2, 3])
        // kill-rank: SIGKILL ends it; the controller sees the signal.
        let killed = h.at(3100, send: .signal(SignalRequest(rank: rank0, signal: 9)))
        #expect(killed.exits == [RankExited(rank: rank0, signal: 9)])
        // SIGTERM with a grace: a stopped rank holds it, so the agent's SIGKILL ends it at the grace's end.
        h.at(3200, send: .signal(SignalRequest(rank: rank1, signal: 19)))
        #expect(h.at(3300, send: .signal(SignalRequest(rank: rank1, signal: 15, graceMilliseconds: 500))).exits.isEmpty)
        #expect(h.run(until: 3900).exits == [RankExited(rank: rank1, signal: 9)])
    }

    @Test func aRankEndsWithItsExitCode() {
        let h = AgentHarness()
        h.at(0, send: launch(0, argv: ["sim", "--steps", "3", "--exit-code", "7"]), launch(1, argv: ["sim", "--steps", "2"]))
        let out = h.run(until: 5000)
        #expect(out.steps == [1, 1, 2, 2, 3])
        #expect(out.exits.map(\.status) == [0, 7])
        #expect(h.agent.ranks.isEmpty)
    }

    @Test func aMalformedOptionFailsTheLaunchLikeAnExecFailure() {
        let h = AgentHarness()
        let out = h.at(0, send: launch(0, argv: ["sim", "--steps", "none"]))
        #expect(out.started.isEmpty)
        #expect(out.exits.first?.status == 127)
        #expect(out.exits.first?.error?.contains("--steps none") == true)
    }

    @Test func whenTheControllerClosesItStopsItsRanksAndExits() {
        let h = AgentHarness()
        h.at(0, send: launch(0), launch(1))
        h.run(until: 1500)
        h.agent.controllerClosed(now: .milliseconds(1600))
        #expect(h.collect().exits.map(\.signal) == [15, 15])
        #expect(h.agent.exited)
        #expect(h.agent.nextWake == nil)
    }

    /// A node cut off from its controller: nothing arrives, so after the agent's silence limit (twice the
    /// controller's, at least a second more: 6 s with 1 s × 3) it stops its ranks and exits by itself.
    @Test func aSilentControllerMakesTheAgentFenceItself() {
        let h = AgentHarness()
        h.at(0, send: launch(0))
        h.run(until: 5900)
        #expect(!h.agent.exited)
        h.run(until: 6000)
        #expect(h.received.exits == [RankExited(rank: RankRef(job: "job-1", attempt: 1, rank: 0), signal: 15)])
        #expect(h.agent.exited)
        #expect(h.agent.log.contains { $0.contains("nothing from the controller") })
    }

    @Test func pingsKeepTheAgentAliveAndAreAnswered() {
        let h = AgentHarness()
        for second in 1...10 {
            let answer = h.at(second * 1000, send: .ping(Ping(id: UInt64(second))))
            #expect(answer.heartbeats.contains { $0.ping == UInt64(second) })
        }
        #expect(!h.agent.exited)
    }
}
