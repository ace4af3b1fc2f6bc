import Foundation
import RingmasterTestKit
import SystemUtilities
import Testing

/// The Slurm fixture itself: a real munged, slurmctld and four slurmd on loopback.
@Suite(.serialized, .timeLimit(.minutes(5)), .enabled(if: SlurmCluster.canRun, Comment(rawValue: SlurmCluster.skipMessage)))
struct SlurmClusterTests {
    @Test func fourIdleNodesRunAJobAndAStepCarriesStdinAndStdout() async throws {
        let cluster = try await SlurmCluster.start()
        let directory = cluster.directory
        do {
            #expect(try await cluster.nodeStates() == ["n1": "idle", "n2": "idle", "n3": "idle", "n4": "idle"])
            // A batch job across two nodes that keeps its allocation, and a step into it that reads stdin.
            let submit = try await cluster.run(["sbatch", "--parsable", "--nodes=2", "--ntasks-per-node=1", "--output=/dev/null",
                                                "--wrap", "exec sleep 600"]).check()
            let job = submit.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(Int(job) != nil, "sbatch --parsable printed `\(submit.output)`")
            try await eventually("job \(job) running", within: .seconds(60), every: .milliseconds(200)) {
                try await cluster.run(["squeue", "--noheader", "--format=%T", "--jobs=\(job)"]).standardOutput.contains("RUNNING")
            }
            let argv = cluster.launcher + ["srun", "--jobid=\(job)", "--overlap", "-w", "n2", "-N1", "-n1", "sh", "-c",
                                           "read x; echo \"$x from $SLURMD_NODENAME\""]
            let step = try await onDedicatedThread(name: "srun") {
                try POSIX.capture(argv, stdin: "ring\n", mergeStderr: false, timeout: .seconds(60))
            }
            #expect(step.status == .exited(0) && step.output == "ring from n2\n", "\(step.output)")
            #expect(try await cluster.jobIDs() == [job])
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
        // Nothing of the cluster is left: no daemon, no job process, no directory.
        try await eventually("the cluster's processes gone", within: .seconds(30)) { cluster.leftoverProcesses().isEmpty }
        #expect(!FileManager.default.fileExists(atPath: directory))
    }
}
