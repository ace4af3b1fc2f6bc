import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import RingmasterTestKit
import Testing

/// Rank sections end to end: a standard-library Python rank (the `ringmaster` package from this
/// checkout) steps, then opens `ringmaster.section("eval", timeout=…)` and stays silent inside it.
@Suite(.serialized, .timeLimit(.minutes(3))) struct SectionTests {
    static func job(_ dir: TemporaryDirectory, name: String, sectionTimeout: Double, silence: Double) throws -> String {
        let script = try dir.write("\(name).py", """
            import time, ringmaster
            for n in range(1, 6):
                ringmaster.step(n)
                time.sleep(0.05)
            with ringmaster.section("eval", timeout=\(sectionTimeout)):
                time.sleep(\(silence))
            for n in range(6, 11):
                ringmaster.step(n)
                time.sleep(0.05)
            """)
        return try dir.write("\(name).yaml", """
            name: \(name)
            command: [python3, \(script)]
            env: {PYTHONPATH: \(BuiltProducts.packageRoot)/python}
            parallelism: {data: 2}
            resources: {acceleratorsPerRank: 1}
            failure: {maxRestarts: 0, stallTimeout: 5s}
            """)
    }

    @Test func aSectionLongerThanTheStallTimeoutIsNotAHangButOneOutlivingItsOwnTimeoutIs() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let c = try await ControllerProcess.start(cluster: try localCluster(dir, nodes: 1), stateDirectory: dir.file("state"))
        try await c.waitForReadyNodes(1)
        // Silent for 12 s (more than two stall timeouts) inside a 60 s section: no hang, no restart. (The stall
        // timeout is 5 s, not less: the ranks step every 50 ms, and a rank starved on a loaded machine for the
        // timeout would fail this job, which has no restarts.)
        let quiet = try await c.submit(try Self.job(dir, name: "quiet", sectionTimeout: 60, silence: 12)).id
        let done = try await c.waitForJob(quiet, within: .seconds(120))
        #expect(done.state == .succeeded, "\(done.reason ?? "")")
        #expect(done.restarts == 0)
        #expect(try await c.events(job: quiet).allSatisfy { $0.kind != "failure.detected" })
        // Silent for 60 s inside a 2 s section: a hang, named with its section and timeout.
        let stuck = try await c.submit(try Self.job(dir, name: "stuck", sectionTimeout: 2, silence: 60)).id
        let failed = try await c.waitForJob(stuck, within: .seconds(60))
        #expect(failed.state == .failed)
        let detected = try #require(try await c.events(job: stuck).first { $0.kind == "failure.detected" })
        #expect(detected.message.hasPrefix("hang"), "\(detected.message)")
        #expect(detected.message.contains("stayed in section eval for") && detected.message.contains("past its own timeout of 2 s"),
                "\(detected.message)")
        #expect(await c.stop() == 0)
    }
}
