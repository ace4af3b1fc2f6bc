import JobManifest
import RingmasterModel
import Testing

/// Values too large for what reads them are errors on their line, never a crash or an allocation the size
/// of the number. Each input here crashed the loader or what reads its result (most were found by a fuzz
/// target in Fuzz/; each test says).
@Suite struct ManifestBounds {
    /// fuzz-job-manifest: a duration past Int64 milliseconds crashed the conversion (`Double` → `Int64`), in
    /// every duration field; the controller validates submitted manifests, so it crashed with it.
    @Test func durationsLongerThanAMillionHoursAreRefused() {
        let manifest = """
            name: j
            command: [a]
            hardware:
              peakFLOPS: 989T
              memory: 80GiB
              intraNodeLinkGBps: 450
              mfu: 0.40
              mtbfPerAccelerator: 922337203685477580750000h
            failure: {backoff: 1e300s}
            """
        #expect(jobErrors(manifest) == [
            "/manifests/job.yaml:8: hardware.mtbfPerAccelerator: must be at most 1000000h (about 114 years), got `922337203685477580750000h`",
            "/manifests/job.yaml:9: failure.backoff: must be at most 1000000h (about 114 years), got `1e300s`",
        ])
        #expect(inventoryErrors("name: c\nlocal: 1\nheartbeat: {interval: 9e18ms}\n") == [
            "/manifests/cluster.yaml:3: heartbeat.interval: must be at most 1000000h (about 114 years), got `9e18ms`",
        ])
        #expect(Quantities.duration("1000000h") == .seconds(3_600_000_000))
        #expect(Quantities.duration("1000001h") == nil)
    }

    /// fuzz-cluster-inventory: `local: 247483648` made that many node entries at once (a 35 GB allocation); a
    /// node's accelerators and the spares were as unbounded, and `nodes` + `spares` could overflow.
    @Test func localAgentsAndANodesAcceleratorsAreAtMost1024() {
        #expect(inventoryErrors("name: l\nlocal: 247483648\n") == [
            "/manifests/cluster.yaml:2: local: must be at most 1024, got 247483648 — the number of local agents, e.g. `local: 4`",
        ])
        #expect(inventoryErrors("name: c\nlocal: {nodes: 9223372036854775807, accelerators: 4294967296, spares: 1025}\n") == [
            "/manifests/cluster.yaml:2: local.nodes: must be at most 1024, got 9223372036854775807",
            "/manifests/cluster.yaml:2: local.accelerators: must be at most 1024, got 4294967296",
            "/manifests/cluster.yaml:2: local.spares: must be at most 1024, got 1025",
        ])
        #expect(inventoryErrors("name: c\nnodes:\n  - {host: a, accelerators: 4294967296}\n") == [
            "/manifests/cluster.yaml:3: nodes[0].accelerators: must be at most 1024, got 4294967296",
        ])
        #expect(inventoryErrors("name: c\nlocal: {nodes: 1024, accelerators: 1024, spares: 1024}\n") == [])
    }

    /// Found reading the loader while writing fuzz-api-bodies (the targets did not reach these in 5 minutes; the
    /// inputs crash their binaries): data × pipeline × tensor overflowed `Parallelism.worldSize`, a trap wherever
    /// the world size is asked (placement, the API's job view), and a CPU-only job of 2^32 ranks, 2^32 to a node,
    /// made the placement the submit route runs allocate 34 GB.
    @Test func aJobHasAtMostAMillionRanksAndANodeAtMost1024OfThem() throws {
        #expect(jobErrors("name: j\ncommand: [a]\nparallelism: {data: 4294967296, pipeline: 4294967296}\n") == [
            "/manifests/job.yaml:3: parallelism: 4294967296 × 4294967296 × 1 ranks is more than 1048576 — a job has at most 1048576 ranks",
        ])
        #expect(jobErrors("""
            name: j
            command: [a]
            parallelism: {data: 4294967296}
            resources: {acceleratorsPerRank: 0, ranksPerNode: 4294967296}
            """) == [
            "/manifests/job.yaml:3: parallelism: 4294967296 × 1 × 1 ranks is more than 1048576 — a job has at most 1048576 ranks",
            "/manifests/job.yaml:4: resources.ranksPerNode: must be at most 1024, got 4294967296",
        ])
        let largest = try parseJob("name: j\ncommand: [a]\nparallelism: {data: 1024, pipeline: 64, tensor: 16}\n")
        #expect(largest.parallelism.worldSize == ManifestLimits.worldSize)
    }
}
