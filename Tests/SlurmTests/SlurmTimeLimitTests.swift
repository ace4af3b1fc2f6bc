import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import RingmasterTestKit
import SystemUtilities
import Testing

/// The holder job's time limit on a real Slurm: the warning (`--signal=B:USR1@50` on a one-minute job,
/// which slurmctld sends within its 30-second check) makes the running trainer commit a checkpoint now,
/// the job moves to a successor allocation and resumes from that step, and finishes with the parameters of
/// an uninterrupted run.
extension SlurmControllerTests {
    @Test func theTimeLimitWarningCheckpointsTheJobWhichResumesOnANewAllocationWithTheSameParameters() async throws {
        try await Self.withCluster { cluster, dir in
            let steps = 3000
            let expected = try await Self.localReference(dir, steps: steps)
            let inventory = try dir.write("slurm-short.yaml", """
                name: loopback
                slurm: {nodes: 2, spares: 0, accelerators: 4, partition: \(cluster.partition), time: "1", warning: 50s}
                heartbeat: {interval: 1s, missed: 3}
                """)
            let c = try await ControllerProcess.start(cluster: inventory, stateDirectory: dir.file("state"), launcher: cluster.launcher)
            try await c.waitForReadyNodes(2, within: .seconds(180))
            let first = try #require(try await cluster.jobIDs().first)
            // The warning comes 10 s after the holder starts, or up to 30 s later (slurmctld's check): paced at
            // 20 ms a step, the job takes at least 60 s, so it is still training then however fast the machine.
            let job = try await c.submit(try Self.trainer(dir, "time-limit", steps: steps, minStepMilliseconds: 20))
            let done = try await c.waitForJob(job.id, within: .seconds(900))
            #expect(done.state == .succeeded, "\(done.reason ?? "")")
            #expect(try await Self.hashes(c, job.id) == expected)

            let events = try await c.call { try $0.get("\(APIVersion.prefix)/events?limit=10000", as: [EventView].self) }
            let slurm = events.filter { $0.kind == "slurm.allocation" }.map(\.message)
            #expect(slurm.contains { $0.hasPrefix("holder job \(first) is near its time limit") }, "\(slurm)")
            #expect(slurm.contains("holder job \(first) has no slot left: cancelled before its time limit"), "\(slurm)")
            // A time limit is never a failure: no attempt is lost to it.
            #expect(!events.contains { $0.kind == "failure.detected" && $0.job == job.id },
                    "\(events.filter { $0.job == job.id }.map(\.message))")
            // Each attempt but the last stopped at a checkpoint it committed on the request; the next resumed there.
            let attempts = try await c.detail(job.id).attempts.sorted { $0.number < $1.number }
            #expect(attempts.count >= 2, "\(attempts)")
            for (stopped, next) in zip(attempts, attempts.dropFirst()) {
                #expect(stopped.state == .stopped, "\(stopped)")
                let reason = stopped.endReason ?? ""
                #expect(reason.hasPrefix("stopped at checkpoint step ") && reason.hasSuffix("before its nodes' time limit"), "\(reason)")
                let step = Int(reason.dropFirst("stopped at checkpoint step ".count).prefix { $0.isNumber })
                // That step, or a later one its ranks still committed while they were being stopped.
                #expect(step.map { (next.resumeStep ?? -1) >= $0 } == true, "\(next)")
            }
            #expect(attempts.last?.state == .succeeded)
            #expect(await c.stop() == 0)
            try await eventually("no Slurm job left", within: .seconds(60), every: .milliseconds(200)) {
                try await cluster.jobIDs().isEmpty
            }
        }
    }
}
