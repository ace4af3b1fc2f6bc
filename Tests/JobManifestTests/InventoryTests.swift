import JobManifest
import RingmasterModel
import Testing

@Suite struct InventoryParsing {
    @Test func localInventoryGivesSimulatedNodesAndSpares() throws {
        let inv = try ClusterInventoryLoader.parse(
            "name: local\nlocal: {nodes: 3, accelerators: 2, spares: 1}\nheartbeat: {interval: 500ms, missed: 4}\n",
            file: "/m/local.yaml").value
        #expect(inv.isLocal)
        #expect(inv.nodes.map(\.id.rawValue) == ["local-0", "local-1", "local-2", "local-3"])
        #expect(inv.nodes.map(\.spare) == [false, false, false, true])
        #expect(inv.nodes[1].accelerators.map(\.index) == [0, 1])
        #expect(inv.nodes[1].accelerators[0].kind == .simulated)
        #expect(inv.heartbeat.lostAfter == .seconds(2))
        let short = try ClusterInventoryLoader.parse("name: l\nlocal: 2\n", file: "/m/l.yaml").value
        #expect(short.nodes.count == 2)
        #expect(short.nodes[0].accelerators.count == 1)
    }

    @Test func sshNodesInheritDefaultsAndOverrideThem() throws {
        let inv = try ClusterInventoryLoader.parse("""
            name: lab
            ssh: {user: train, identityFile: keys/id, knownHosts: /etc/rm/known_hosts, connectTimeout: 2s}
            nodes:
              - host: 10.0.0.1
                accelerators: 8
              - {host: 10.0.0.2, name: b, port: 2222, user: ops, spare: true}
              - 10.0.0.3
            """, file: "/etc/rm/cluster.yaml").value
        #expect(!inv.isLocal)
        #expect(inv.nodes.map(\.id.rawValue) == ["10.0.0.1", "b", "10.0.0.3"])
        #expect(inv.nodes[0].ssh == SSHSettings(user: "train", port: 22, identityFile: "/etc/rm/keys/id",
                                                knownHosts: "/etc/rm/known_hosts", connectTimeout: .seconds(2)))
        #expect(inv.nodes[0].accelerators.count == 8)
        #expect(inv.nodes[1].ssh?.user == "ops")
        #expect(inv.nodes[1].ssh?.port == 2222)
        #expect(inv.nodes[1].spare)
        #expect(inv.spareNodes.map(\.id.rawValue) == ["b"])
        #expect(inv.nodes[2].ssh?.user == "train")
    }

    @Test func reportsBadInventories() {
        #expect(inventoryErrors("name: c\n") == [
            "/manifests/cluster.yaml:1: nodes: the inventory lists no hosts — add `nodes:` with SSH hosts, `local: 4` for agents on this machine, or `slurm: {nodes: 4}`",
        ])
        #expect(inventoryErrors("name: c\nlocal: 0\n") == [
            "/manifests/cluster.yaml:2: local: must be at least 1, got 0 — the number of local agents, e.g. `local: 4`",
        ])
        #expect(inventoryErrors("name: c\nnodes:\n  - {host: a, port: 70000}\n  - {hots: b}\n") == [
            "/manifests/cluster.yaml:3: nodes[0].port: must be at most 65535, got 70000 — a TCP port, 1–65535",
            "/manifests/cluster.yaml:4: nodes[1].hots: unknown field — did you mean `host`?",
            "/manifests/cluster.yaml:4: nodes[1].host: missing required field — the address or DNS name the controller connects to",
        ])
        #expect(inventoryErrors("name: c\nnodes: [a, {host: b, name: a}]\nheartbeat: {interval: 1 s}\n") == [
            "/manifests/cluster.yaml:2: nodes[1].name: node name `a` is used twice — first used on line 2; give each node its own `name:`",
            "/manifests/cluster.yaml:3: heartbeat.interval: malformed duration `1 s` — write a number and a unit: 500ms, 30s, 5m or 2h",
        ])
    }

    @Test func reportBatchIsAWindowWithinTheHeartbeatInterval() throws {
        let on = try ClusterInventoryLoader.parse("name: l\nlocal: 2\nheartbeat: {interval: 1s, reportBatch: 100ms}\n", file: "/m/l.yaml").value
        #expect(on.heartbeat.reportBatch == .milliseconds(100))
        let off = try ClusterInventoryLoader.parse("name: l\nlocal: 2\nheartbeat: {reportBatch: 0ms}\n", file: "/m/l.yaml").value
        #expect(off.heartbeat.reportBatch == nil)
        #expect(try ClusterInventoryLoader.parse("name: l\nlocal: 2\n", file: "/m/l.yaml").value.heartbeat.reportBatch == nil)
        #expect(inventoryErrors("name: c\nlocal: 1\nheartbeat: {interval: 500ms, reportBatch: 2s}\n") == [
            "/manifests/cluster.yaml:3: heartbeat.reportBatch: 2s is longer than the heartbeat interval (500ms) — hold step reports for a fraction of the interval, e.g. `reportBatch: 100ms`",
        ])
    }
}
