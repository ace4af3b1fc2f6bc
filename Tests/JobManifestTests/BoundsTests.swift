import JobManifest
import RingmasterModel
import Testing

/// Values too large for what reads them are errors on their line, never a crash or an allocation the size
/// of the number. Each input here is one a fuzz target (Fuzz/) found crashing the loader.
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
}
