import JobManifest
import RingmasterModel
import Testing

@Suite struct SimulatedInventoryParsing {
    @Test func simulatedInventoryGivesNodesSparesAndSettings() throws {
        let inv = try ClusterInventoryLoader.parse("""
            name: big
            simulated:
              nodes: 3
              accelerators: 8
              kind: nvidia
              spares: 1
              stepTime: 100ms
              checkpointEvery: 60
              jitter: 5%
              startup: 2s
              steps: 1000
              seed: 9
            heartbeat: {interval: 500ms, missed: 4}
            """, file: "/m/big.yaml").value
        #expect(!inv.isLocal)
        #expect(inv.nodes.map(\.id.rawValue) == ["sim-0", "sim-1", "sim-2", "sim-3"])
        #expect(inv.spareNodes.map(\.id.rawValue) == ["sim-3"])
        #expect(inv.nodes[2].accelerators.count == 8)
        #expect(inv.nodes[2].accelerators.allSatisfy { $0.kind == .nvidia })
        #expect(inv.simulation == SimulationSettings(stepTime: .milliseconds(100), checkpointEvery: 60, jitter: 0.05,
                                                     startup: .seconds(2), steps: 1000, seed: 9))
        let plain = try ClusterInventoryLoader.parse("name: s\nsimulated: {nodes: 2, jitter: 0.1}\n", file: "/m/s.yaml").value
        #expect(plain.nodes[0].accelerators.count == 8)
        #expect(plain.simulation == SimulationSettings(jitter: 0.1))
    }

    @Test func reportsBadSimulatedInventories() {
        #expect(inventoryErrors("name: c\nsimulated:\n  nodes: 0\n  jitter: 150%\n  stepTime: fast\n  spare: 1\n") == [
            "/manifests/cluster.yaml:3: simulated.nodes: must be at least 1, got 0 — at most 16384 simulated nodes in one controller",
            "/manifests/cluster.yaml:4: simulated.jitter: must be at least 0 and below 1 (100%), got `150%` — a step interval is the step time × (1 ± jitter), e.g. 5%",
            "/manifests/cluster.yaml:5: simulated.stepTime: malformed duration `fast` — write a number and a unit: 500ms, 30s, 5m or 2h",
            "/manifests/cluster.yaml:6: simulated.spare: unknown field — did you mean `spares`?",
        ])
        #expect(inventoryErrors("name: c\nlocal: 2\nsimulated: {nodes: 2}\n") == [
            "/manifests/cluster.yaml:3: simulated: an inventory has one of `local:`, `nodes:`, `slurm:` or `simulated:` — remove `local:`, `nodes:` and `slurm:` to simulate the cluster",
        ])
        #expect(inventoryErrors("name: c\nsimulated: {nodes: 16000, spares: 1000}\n") == [
            "/manifests/cluster.yaml:2: simulated.spares: 16000 nodes and 1000 spares are more than 16384 — at most 16384 simulated nodes in one controller",
        ])
    }
}
