import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import RingmasterTestKit
import SystemUtilities
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real controller on a real Slurm cluster (munged, slurmctld, four slurmd on loopback): the holder job,
/// agents as `srun --overlap` steps, a lost node replaced, cancel on stop, re-attach after `kill -9`.
@Suite(.serialized, .timeLimit(.minutes(20)), .enabled(if: SlurmCluster.canRun, Comment(rawValue: SlurmCluster.skipMessage)))
struct SlurmControllerTests {
    /// The reference trainer on 2 nodes × 4 accelerators (data 2 × pipeline 2 × tensor 2).
    /// The test job; `minStepMilliseconds` paces its steps (the parameters are the same at any pace).
    static func trainer(_ dir: TemporaryDirectory, _ name: String, steps: Int, minStepMilliseconds: Int = 0) throws -> String {
        try dir.write("\(name).yaml", """
            name: \(name)
            command: [ringmaster-train, --preset, micro, --steps, "\(steps)", --batch, "8", --checkpoint-every, "20", --log-every, "0", --print-hash, --min-step-ms, "\(minStepMilliseconds)"]
            parallelism: {data: 2, pipeline: 2, tensor: 2}
            resources: {acceleratorsPerRank: 1}
            checkpoint: {every: 20, keep: 3, dir: \(dir.file("ckpt-\(name)"))}
            failure: {maxRestarts: 8, backoff: 200ms, stallTimeout: 20s}
            """)
    }

    static func inventory(_ dir: TemporaryDirectory, _ cluster: SlurmCluster) throws -> String {
        try dir.write("slurm.yaml", """
            name: loopback
            slurm: {nodes: 2, spares: 1, accelerators: 4, partition: \(cluster.partition), warning: 30s}
            heartbeat: {interval: 1s, missed: 3}
            """)
    }

    static func start(_ dir: TemporaryDirectory, _ cluster: SlurmCluster) async throws -> ControllerProcess {
        try await ControllerProcess.start(cluster: try inventory(dir, cluster), stateDirectory: dir.file("state"), launcher: cluster.launcher)
    }

    static func hashes(_ c: ControllerProcess, _ job: String) async throws -> [String] {
        let out = try await c.cli(["logs", job, "--tail", "10000"]).output
        return out.split(separator: "\n").filter { $0.contains("parameter-hash rank") }.map { String($0) }.sorted()
    }

    /// Processes whose environment holds every one of `entries` (`KEY=VALUE`).
    static func processes(environment entries: [String]) -> [pid_t] {
        let wanted = entries.map { Array($0.utf8) }
        let me = getpid()
        return ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid_t($0) }.filter { pid in
            guard pid != me, let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
            let env = Set(data.split(separator: 0).map { Array($0) })
            return wanted.allSatisfy(env.contains)
        }
    }

    static func commandLine(_ pid: pid_t) -> String {
        String(decoding: FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data(), as: UTF8.self)
    }

    static func nodes(_ c: ControllerProcess) async throws -> [NodeView] {
        try await c.call { try $0.get("\(APIVersion.prefix)/nodes", as: [NodeView].self) }
    }

    /// The parameters of the same training on a local cluster of the same shape.
    static func localReference(_ dir: TemporaryDirectory, steps: Int) async throws -> [String] {
        let cluster = try dir.write("local.yaml", "name: local\nlocal: {nodes: 2, accelerators: 4}\n")
        let c = try await ControllerProcess.start(cluster: cluster, stateDirectory: dir.file("local-state"))
        try await c.waitForReadyNodes(2)
        let job = try await c.submit(try trainer(dir, "reference", steps: steps))
        let done = try await c.waitForJob(job.id, within: .seconds(600))
        #expect(done.state == .succeeded, "\(done.reason ?? "")")
        let h = try await hashes(c, job.id)
        #expect(h.count == 8)
        #expect(await c.stop() == 0)
        return h
    }

    /// Runs `body` with a fresh cluster, stopping it (every daemon, every job) whatever happens.
    static func withCluster(_ body: (SlurmCluster, TemporaryDirectory) async throws -> Void) async throws {
        try TestEnvironment.requireRoot()
        let dir = try TemporaryDirectory(prefix: "rm-slurm-test")
        let cluster = try await SlurmCluster.start()
        do { try await body(cluster, dir) } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
        try await eventually("the cluster's processes gone", within: .seconds(30)) { cluster.leftoverProcesses().isEmpty }
    }

    @Test func aPendingHolderSaysWhyThenTheTrainerFinishesWithTheLocalParametersAndStopCancelsEverything() async throws {
        try await Self.withCluster { cluster, dir in
            let expected = try await Self.localReference(dir, steps: 120)
            // Another user's job holds every node: the holder job waits, and the nodes say so.
            let blocker = try await cluster.run(["sbatch", "--parsable", "--nodes=4", "--exclusive", "--output=/dev/null",
                                                 "--wrap", "exec sleep 600"]).check().standardOutput
                .trimmingCharacters(in: .whitespacesAndNewlines)
            try await eventually("the blocker running", within: .seconds(60), every: .milliseconds(200)) {
                try await cluster.run(["squeue", "--noheader", "--format=%T", "--jobs=\(blocker)"]).standardOutput.contains("RUNNING")
            }
            let c = try await Self.start(dir, cluster)
            try await eventually("the holder's pending reason on the nodes", within: .seconds(120), every: .milliseconds(200)) {
                try await Self.nodes(c).contains { $0.reason?.contains("pending (Resources)") ?? false }
            }
            try await eventually("`ringmaster nodes` showing the pending reason", within: .seconds(120), every: .milliseconds(200)) {
                try await c.cli(["nodes"]).output.contains("waiting for the Slurm allocation: Slurm job")
            }
            #expect(try await cluster.jobIDs().count == 2)
            _ = try await cluster.run(["scancel", blocker]).check()
            try await c.waitForReadyNodes(3, within: .seconds(180))
            let holders = try await cluster.jobIDs()
            #expect(holders.count == 1)
            // Each slot shows the Slurm node it runs on.
            #expect(try await Self.nodes(c).map(\.host) == ["n1", "n2", "n3"])
            // The wait and the start are events: Slurm's reason on the nodes, the holder's steps of its own.
            let events = try await c.call { try $0.get("\(APIVersion.prefix)/events?limit=10000", as: [EventView].self) }
            #expect(events.contains { $0.kind == "node.state" && $0.message.contains("Slurm job \(holders[0]) pending (Resources)") })
            let slurm = events.filter { $0.kind == "slurm.allocation" }.map(\.message)
            #expect(slurm.contains("submitted holder job \(holders[0]) (allocation)"), "\(slurm)")
            #expect(slurm.contains("holder job \(holders[0]) (allocation) is pending: Resources"), "\(slurm)")
            #expect(slurm.contains("holder job \(holders[0]) is running: slurm-0=n1 slurm-1=n2 slurm-2=n3"), "\(slurm)")

            let job = try await c.submit(try Self.trainer(dir, "on-slurm", steps: 120))
            let done = try await c.waitForJob(job.id, within: .seconds(600))
            #expect(done.state == .succeeded, "\(done.reason ?? "")")
            #expect(try await Self.hashes(c, job.id) == expected)
            // Ranks ran on the two primary slots; the spare was never placed.
            let ranks = try await c.detail(job.id).ranks
            #expect(Set(ranks.map(\.node)) == ["slurm-0", "slurm-1"])

            #expect(await c.stop() == 0)
            try await eventually("no Slurm job left", within: .seconds(60), every: .milliseconds(200)) {
                try await cluster.jobIDs().isEmpty
            }
            #expect(c.log.contains("slurm: cancelled holder jobs \(holders[0])"), "\(c.log.suffix(2000))")
        }
    }

    @Test func aKilledSlurmdLosesItsSlotTheJobFinishesOnTheSpareAndAReplacementTakesTheSlot() async throws {
        try await Self.withCluster { cluster, dir in
            let expected = try await Self.localReference(dir, steps: 400)
            let c = try await Self.start(dir, cluster)
            try await c.waitForReadyNodes(3, within: .seconds(180))
            let holder = try #require(try await cluster.jobIDs().first)
            // Only Slurm sees a killed slurmd (the step's agent and ranks keep running): it says n2 is not
            // responding within SlurmdTimeout (6 s) + MessageTimeout (10 s) + a ping interval (2 s), 13–16 s
            // here. Paced at 150 ms a step, the job takes at least 60 s: more than 3× that.
            let job = try await c.submit(try Self.trainer(dir, "lose-node", steps: 400, minStepMilliseconds: 150))
            try await c.waitForStepping(job.id, attempt: 1, within: .seconds(300))
            // Slots are bound in the allocation's node order: slurm-1 is n2.
            await cluster.killNode("n2")
            _ = try await c.waitForEvent(job: job.id, within: .seconds(180)) { $0.kind == "failure.detected" }
            let done = try await c.waitForJob(job.id, within: .seconds(600))
            #expect(done.state == .succeeded, "\(done.reason ?? "")")
            #expect(try await Self.hashes(c, job.id) == expected)
            let last = try await c.detail(job.id).ranks
            #expect(Set(last.map(\.node)) == ["slurm-0", "slurm-2"])
            // The step on n2 cannot be cancelled (its slurmd is gone) and keeps the old agent's stdin open: the
            // agent stops its ranks and exits when the controller's pings stop. Nothing of it is left.
            try await eventually("nothing of attempt 1 left on n2", within: .seconds(120), every: .milliseconds(200)) {
                Self.processes(environment: ["RINGMASTER_JOB_ID=\(job.id)"]).isEmpty
                    && cluster.stepProcesses(on: "n2").allSatisfy { !Self.commandLine($0).contains("ringmaster-agent") }
            }
            // The replacement holder job excludes n2 and brings slurm-1 back on n4.
            try await eventually("a replacement holder job", within: .seconds(120), every: .milliseconds(200)) {
                try await cluster.jobIDs().count == 2
            }
            let replacement = try #require(try await cluster.jobIDs().first { $0 != holder })
            let shown = try await cluster.run(["scontrol", "show", "job", replacement]).check().standardOutput
            #expect(shown.contains("ExcNodeList=n2"), "\(shown)")
            #expect(shown.contains("NodeList=n4"), "\(shown)")
            try await c.waitForReadyNodes(3, within: .seconds(180))
            #expect(await c.stop() == 0)
            try await eventually("no Slurm job left", within: .seconds(60), every: .milliseconds(200)) {
                try await cluster.jobIDs().isEmpty
            }
        }
    }

    @Test func anAgentStepThatEndsIsALostNodeTheJobFinishesOnTheSpareAndTheSlotComesBackOnItsNode() async throws {
        try await Self.withCluster { cluster, dir in
            let expected = try await Self.localReference(dir, steps: 400)
            let c = try await Self.start(dir, cluster)
            try await c.waitForReadyNodes(3, within: .seconds(180))
            let job = try await c.submit(try Self.trainer(dir, "lose-agent", steps: 400))
            try await c.waitForStepping(job.id, attempt: 1, within: .seconds(300))
            let agent = try #require(try await Self.nodes(c).first { $0.id == "slurm-1" }?.agentPID)
            kill(agent, SIGKILL)
            _ = try await c.waitForEvent(job: job.id, within: .seconds(180)) { $0.kind == "failure.detected" }
            // The step's end is the node's loss (the first failure seen may be a peer rank's exit).
            try await eventually("slurm-1 lost", within: .seconds(60), every: .milliseconds(200)) {
                let events = try await c.call { try $0.get("\(APIVersion.prefix)/events?limit=10000", as: [EventView].self) }
                return events.contains { $0.kind == "node.state" && $0.node == "slurm-1" && $0.message.contains("lost") }
            }
            let done = try await c.waitForJob(job.id, within: .seconds(600))
            #expect(done.state == .succeeded, "\(done.reason ?? "")")
            #expect(try await Self.hashes(c, job.id) == expected)
            #expect(Set(try await c.detail(job.id).ranks.map(\.node)) == ["slurm-0", "slurm-2"])
            // Slurm still has the node: a new step brings the slot back there, and no replacement is asked for.
            try await c.waitForReadyNodes(3, within: .seconds(180))
            #expect(try await cluster.jobIDs().count == 1)
            #expect(await c.stop() == 0)
        }
    }

    @Test func insideAnAllocationSlurmHereUsesItsNodesAndLeavesItRunning() async throws {
        try await Self.withCluster { cluster, dir in
            // The allocation an operator's `salloc -N 3` or sbatch script would hold.
            let job = try await cluster.run(["sbatch", "--parsable", "--nodes=3", "--exclusive", "--output=/dev/null",
                                             "--wrap", "exec sleep 600"]).check().standardOutput
                .trimmingCharacters(in: .whitespacesAndNewlines)
            try await eventually("the allocation running", within: .seconds(60), every: .milliseconds(200)) {
                try await cluster.run(["squeue", "--noheader", "--format=%T", "--jobs=\(job)"]).standardOutput.contains("RUNNING")
            }
            let nodeList = try await cluster.run(["squeue", "--noheader", "--format=%N", "--jobs=\(job)"]).check().standardOutput
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let inside = cluster.launcher + ["SLURM_JOB_ID=\(job)", "SLURM_JOB_NUM_NODES=3", "SLURM_JOB_NODELIST=\(nodeList)"]
            let c = try await ControllerProcess.start(cluster: "slurm-here", stateDirectory: dir.file("state"), launcher: inside)
            try await c.waitForReadyNodes(3, within: .seconds(180))
            #expect(try await Self.nodes(c).map(\.host) == ["n1", "n2", "n3"])
            let run = try await c.cli(["nodes"])
            #expect(run.output.contains("slurm-2"), "\(run.output)")
            #expect(try await cluster.jobIDs() == [job])
            #expect(await c.stop() == 0)
            // Nothing was submitted, and the allocation it ran in is not cancelled.
            #expect(try await cluster.jobIDs() == [job])
            #expect(c.log.contains("slurm: using the allocation of Slurm job \(job) (n1,n2,n3)"), "\(c.log.suffix(2000))")
        }
    }

    @Test func aControllerKilledWithSIGKILLReattachesToItsRunningHolderJob() async throws {
        try await Self.withCluster { cluster, dir in
            let first = try await Self.start(dir, cluster)
            try await first.waitForReadyNodes(3, within: .seconds(180))
            let holders = try await cluster.jobIDs()
            #expect(holders.count == 1)
            await first.kill9()
            // The holder job outlives the controller; a new controller on the same state directory adopts it.
            #expect(try await cluster.jobIDs() == holders)
            let second = try await Self.start(dir, cluster)
            try await second.waitForReadyNodes(3, within: .seconds(180))
            #expect(try await cluster.jobIDs() == holders)
            try await eventually("the re-attach logged", within: .seconds(30)) {
                second.log.contains("slurm: re-attached to holder jobs \(holders[0])")
            }
            #expect(await second.stop() == 0)
            try await eventually("no Slurm job left", within: .seconds(60), every: .milliseconds(200)) {
                try await cluster.jobIDs().isEmpty
            }
        }
    }
}
