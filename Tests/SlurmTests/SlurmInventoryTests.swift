import JobManifest
import RingmasterModel
import Testing

/// `slurm:` inventories: fields, slots, and FILE:LINE errors.
struct SlurmInventoryTests {
    func errors(_ yaml: String) -> [String] {
        do {
            _ = try ClusterInventoryLoader.parse(yaml, file: "/c/slurm.yaml")
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    @Test func aSlurmInventoryHasSlotsForItsNodesAndSpares() throws {
        let inv = try ClusterInventoryLoader.parse("""
            name: hpc
            slurm:
              nodes: 2
              spares: 1
              partition: gpu
              time: "1:00:00"
              account: ml
              constraint: h100
              gresPerNode: gpu:8
              extraArgs: [--qos=high, --comment, ringmaster]
              warning: 2m
            """, file: "/c/slurm.yaml").value
        let s = try #require(inv.slurm)
        #expect(s == SlurmSettings(nodes: 2, spares: 1, partition: "gpu", time: "1:00:00", account: "ml", constraint: "h100",
                                   gresPerNode: "gpu:8", extraArgs: ["--qos=high", "--comment", "ringmaster"], warningSeconds: 120))
        #expect(inv.nodes.map(\.id.rawValue) == ["slurm-0", "slurm-1", "slurm-2"])
        // gpu:8 declares 8 GPUs per node for placement before discovery.
        #expect(inv.nodes.allSatisfy { $0.accelerators.count == 8 && $0.accelerators[0].uuid.hasPrefix("declared-") })
        #expect(inv.spareNodes.map(\.id.rawValue) == ["slurm-2"])
        #expect(!inv.isLocal)
        let simulated = try ClusterInventoryLoader.parse("name: t\nslurm: {nodes: 3, accelerators: 4}\n", file: "/c/t.yaml").value
        #expect(simulated.nodes.allSatisfy { $0.accelerators.count == 4 && $0.accelerators[0].uuid.hasPrefix("sim-") })
        #expect(simulated.slurm?.warningSeconds == 300 && simulated.slurm?.existingAllocation == false)
    }

    @Test func badFieldsNameTheirFileLineAndField() {
        #expect(errors("name: x\nslurm:\n  spares: 1\n") == [
            "/c/slurm.yaml:3: slurm.nodes: missing required field — how many Slurm nodes jobs run on, e.g. `nodes: 4`",
        ])
        #expect(errors("name: x\nslurm:\n  nodes: 2\n  time: soon\n") == [
            "/c/slurm.yaml:4: slurm.time: `soon` is not a Slurm time limit — minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (e.g. `2:00:00`), or UNLIMITED",
        ])
        #expect(errors("name: x\nslurm:\n  nodes: 2\n  gresPerNode: gpu\n") == [
            "/c/slurm.yaml:4: slurm.gresPerNode: `gpu` is not a generic resource per node — NAME:COUNT or NAME:TYPE:COUNT with a count from 1 to 1024, e.g. `gpu:8` or `gpu:a100:8`",
        ])
        #expect(errors("name: x\nslurm:\n  nodes: 2\n  extraArgs: [--qos=a, --nodes=9]\n") == [
            "/c/slurm.yaml:4: slurm.extraArgs[1]: `--nodes` is set by the controller — use the inventory's own fields (nodes, spares, partition, time, account, constraint, gresPerNode)",
        ])
        #expect(errors("name: x\nslurm:\n  nodes: 2\n  time: \"5\"\n  warning: 10m\n") == [
            "/c/slurm.yaml:5: slurm.warning: the time-limit warning (600 s) is not shorter than the time limit (300 s) — a shorter `warning:` (the checkpoint needs that long at most), or a longer `time:`",
        ])
        #expect(errors("name: x\nlocal: 2\nslurm: {nodes: 1}\n") == [
            "/c/slurm.yaml:3: slurm: an inventory has one of `local:`, `nodes:` or `slurm:`, not `local:` and `slurm:` — keep `local:` for agents on this machine, `nodes:` for SSH hosts, or `slurm:` for a Slurm allocation",
        ])
        #expect(errors("name: x\nslurm: {nodes: 1, partiton: a}\n").first?.contains("slurm.partiton: unknown field") == true)
    }

    /// Counts that would make that many slots or accelerators at once (or overflow `nodes + spares`) are refused
    /// before anything is allocated, as for `local:`.
    @Test func countsAreBounded() {
        #expect(errors("name: x\nslurm: {nodes: 9223372036854775807, spares: 1}\n").first?
            .hasPrefix("/c/slurm.yaml:2: slurm.nodes: must be at most 65536, got 9223372036854775807") == true)
        #expect(errors("name: x\nslurm: {nodes: 1, spares: 247483648}\n").first?
            .hasPrefix("/c/slurm.yaml:2: slurm.spares: must be at most 65536") == true)
        #expect(errors("name: x\nslurm: {nodes: 1, gresPerNode: gpu:99999999}\n").first?
            .contains("`gpu:99999999` is not a generic resource per node") == true)
        #expect(errors("name: x\nslurm: {nodes: 1, accelerators: 99999999}\n").first?
            .hasPrefix("/c/slurm.yaml:2: slurm.accelerators: must be at most 1024") == true)
    }
}

/// `--cluster slurm-here`: the enclosing allocation's inventory.
struct SlurmHereTests {
    @Test func insideAnAllocationEveryNodeIsASlotOfIt() throws {
        let inv = try ClusterInventoryLoader.slurmHere(environment: ["SLURM_JOB_ID": "77", "SLURM_JOB_NUM_NODES": "3"]).value
        #expect(inv.name == "slurm-77")
        #expect(inv.slurm?.existingAllocation == true && inv.slurm?.nodes == 3 && inv.slurm?.spares == 0)
        #expect(inv.nodes.count == 3)
    }

    @Test func outsideOneTheErrorSaysWhereToRunIt() {
        #expect(throws: ManifestErrors.self) { try ClusterInventoryLoader.slurmHere(environment: [:]) }
        do {
            _ = try ClusterInventoryLoader.slurmHere(environment: [:])
        } catch {
            #expect(error.errors.map(\.description) == [
                "slurm-here: SLURM_JOB_ID: not inside a Slurm allocation (SLURM_JOB_ID is not set) — start the controller inside `salloc -N 4` or an sbatch script, or name an inventory file",
            ])
        }
    }
}
