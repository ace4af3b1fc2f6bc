import AgentProtocol
import NodeManager
import RingmasterModel
import SimulatedNodes
import SystemUtilities
import Testing

/// The simulated transport under the real `NodeManager`, on the real clock: hundreds of agents on a few threads,
/// and the faults `ringmaster chaos` injects into them. Every wait is a generous bound on a condition, not a
/// measurement (a loaded 2-core machine may take many times the heartbeat threshold to get there).
@Suite struct SimulatedClusterTests {
    static let hangGuard: Duration = .seconds(120)

    static func inventory(nodes: Int, interval: Duration = .milliseconds(200)) -> ClusterInventory {
        let entries = (0..<nodes).map { i in
            NodeEntry(id: NodeID("sim-\(i)"), host: "sim-\(i)", accelerators: Accelerator.simulated(count: 8, kind: .nvidia, node: "sim-\(i)"))
        }
        return ClusterInventory(name: "sim", nodes: entries, heartbeat: HeartbeatSettings(interval: interval, missed: 3), isLocal: false,
                                simulation: SimulationSettings(stepTime: .milliseconds(100), checkpointEvery: 5))
    }

    static func manager(_ inventory: ClusterInventory) -> (NodeManager, SimulatedAgentTransport) {
        let transport = SimulatedAgentTransport(inventory: inventory)
        let manager = NodeManager(inventory: inventory, transport: transport,
                                  backoff: BackoffPolicy(initial: .milliseconds(100), maximum: .seconds(1)))
        return (manager, transport)
    }

    static func lostCauses(_ manager: NodeManager, _ node: NodeID) -> [String] {
        manager.eventHistory().filter { $0.node == node && $0.to == .lost }.map(\.cause)
    }

    @Test func hundredsOfNodesComeUpOnAFewThreadsWithTheirAccelerators() async throws {
        let inventory = Self.inventory(nodes: 300)
        let (manager, transport) = Self.manager(inventory)
        #expect(transport.threadCount == 3)
        manager.start()
        let ready = try await withTimeout(Self.hangGuard, "300 simulated nodes ready") {
            await manager.waitUntil { states in states.count == 300 && states.values.allSatisfy { $0 == .ready } }
        }
        #expect(ready)
        let statuses = manager.statuses()
        #expect(statuses.allSatisfy { $0.hello?.accelerators.count == 8 && $0.hello?.accelerators.first?.kind == .nvidia })
        #expect(statuses.allSatisfy { $0.hello?.host.hostname == $0.entry.id.rawValue })
        await manager.shutdown()
    }

    @Test func aLaunchedRankStepsAndAnswersSignalsOverTheChannel() async throws {
        let (manager, _) = Self.manager(Self.inventory(nodes: 4))
        manager.start()
        _ = try await withTimeout(Self.hangGuard, "nodes ready") { await manager.waitUntil { $0["sim-2"] == .ready } }
        let ref = RankRef(job: "job-1", attempt: 1, rank: 0)
        #expect(manager.send(.launch(LaunchRequest(rank: ref, argv: ["sim"], logDir: "/logs")), to: "sim-2"))
        let seen = try await withTimeout(Self.hangGuard, "steps, a checkpoint, then the kill's exit") {
            var steps: [Int] = [], checkpoints: [Int] = []
            var exit: RankExited?
            for await m in manager.messages where m.node == "sim-2" {
                switch m.message {
                case .progress(let p):
                    steps.append(p.step ?? -1)
                    if steps.count == 6 { manager.send(.signal(SignalRequest(rank: ref, signal: 9)), to: "sim-2") }
                case .checkpoint(let c): checkpoints.append(c.step)
                case .exited(let e): exit = e
                default: continue
                }
                if exit != nil { break }
            }
            return (steps, checkpoints, exit)
        }
        #expect(Array(seen.0.prefix(6)) == [1, 2, 3, 4, 5, 6])
        #expect(seen.1.first == 5)
        #expect(seen.2 == RankExited(rank: ref, signal: 9))
        await manager.shutdown()
    }

    @Test func aKilledNodeIsLostAtOnceAndComesBackWithAFreshAgent() async throws {
        let (manager, transport) = Self.manager(Self.inventory(nodes: 8))
        manager.start()
        _ = try await withTimeout(Self.hangGuard, "nodes ready") { await manager.waitUntil { $0.count == 8 && $0.values.allSatisfy { $0 == .ready } } }
        let firstPID = manager.status(of: "sim-5")?.hello?.agentPID
        _ = try transport.inject(.kill, into: ["sim-5"])
        let lost = try await withTimeout(Self.hangGuard, "sim-5 lost") { await manager.waitUntil { $0["sim-5"] == .lost } }
        #expect(lost)
        #expect(Self.lostCauses(manager, "sim-5").first?.contains("simulated node killed") == true)
        _ = try await withTimeout(Self.hangGuard, "sim-5 back") { await manager.waitUntil { $0["sim-5"] == .ready } }
        #expect(manager.status(of: "sim-5")?.hello?.agentPID == firstPID)
        #expect(Array(manager.eventHistory().filter { $0.node == "sim-5" }.map(\.to).prefix(3)) == [.connecting, .ready, .lost])
        await manager.shutdown()
    }

    /// stop-agent: the channel stays open, only the silence tells — the node is lost for missing heartbeats.
    @Test func aStoppedAgentIsLostByItsSilence() async throws {
        let (manager, transport) = Self.manager(Self.inventory(nodes: 8))
        manager.start()
        _ = try await withTimeout(Self.hangGuard, "nodes ready") { await manager.waitUntil { $0["sim-1"] == .ready } }
        _ = try transport.inject(.stopAgent, into: ["sim-1"])
        _ = try await withTimeout(Self.hangGuard, "sim-1 lost") { await manager.waitUntil { $0["sim-1"] == .lost } }
        let cause = Self.lostCauses(manager, "sim-1").first ?? ""
        #expect(cause.contains("no heartbeat"), "\(cause)")
        #expect(Set(manager.eventHistory().filter { $0.to == .lost }.map(\.node)) == ["sim-1"])
        await manager.shutdown()
    }

    /// A partition of two nodes: both lost by their silence, unreachable while it lasts, ready again after it.
    @Test func aPartitionedSetOfNodesIsLostThenReturns() async throws {
        let (manager, transport) = Self.manager(Self.inventory(nodes: 8))
        manager.start()
        _ = try await withTimeout(Self.hangGuard, "nodes ready") { await manager.waitUntil { $0.count == 8 && $0.values.allSatisfy { $0 == .ready } } }
        let text = try transport.inject(.partition(.seconds(3)), into: ["sim-3", "sim-4"])
        #expect(text.contains("sim-3, sim-4"))
        _ = try await withTimeout(Self.hangGuard, "both lost") { await manager.waitUntil { $0["sim-3"] == .lost && $0["sim-4"] == .lost } }
        #expect(Self.lostCauses(manager, "sim-3").first?.contains("no heartbeat") == true)
        _ = try await withTimeout(Self.hangGuard, "both back") { await manager.waitUntil { $0["sim-3"] == .ready && $0["sim-4"] == .ready } }
        #expect(manager.statuses().allSatisfy { $0.state == .ready })
        await manager.shutdown()
    }
}
