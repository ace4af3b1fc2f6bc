import RingmasterModel
import SlurmNodes
import Testing

/// The argument vectors the controller runs and the parsers of what Slurm answers.
struct SlurmCommandTests {
    @Test func theHolderJobAsksForEveryNodeExclusivelyWithTheWarningSignal() {
        let s = SlurmSettings(nodes: 4, spares: 2, partition: "gpu", time: "2:00:00", account: "ml", constraint: "h100",
                              gresPerNode: "gpu:8", extraArgs: ["--qos=high"], warningSeconds: 600)
        #expect(SlurmCommands.submit(s, count: 6, exclude: ["n9", "n3"], jobName: "ringmaster-lab", outputFile: "/s/holder-%j.out") == [
            "sbatch", "--parsable", "--job-name=ringmaster-lab", "--nodes=6", "--ntasks-per-node=1", "--exclusive", "--no-kill",
            "--signal=B:USR1@600", "--output=/s/holder-%j.out", "--partition=gpu", "--time=2:00:00", "--account=ml",
            "--constraint=h100", "--gres=gpu:8", "--exclude=n3,n9", "--qos=high",
        ])
        #expect(SlurmCommands.agentStep(job: "12", host: "n2", gres: nil, agent: ["/bin/agent", "--stdio"]) == [
            "srun", "--jobid=12", "--overlap", "-w", "n2", "-N1", "-n1", "--quiet", "--job-name=ringmaster-agent", "/bin/agent", "--stdio",
        ])
        #expect(SlurmCommands.holderScript.contains("trap 'echo \"\(SlurmCommands.timeLimitMarker)"))
    }

    @Test func parsableSubmitOutputAndItsErrors() throws {
        #expect(try SlurmOutput.submittedJob("123\n") == "123")
        #expect(try SlurmOutput.submittedJob("sbatch: warning: x\n456;cluster\n") == "456")
        #expect(throws: SlurmOutput.Unreadable.self) { try SlurmOutput.submittedJob("sbatch: error: Batch job submission failed") }
    }

    @Test func squeueAndSinfoJSON() throws {
        let queue = """
            {"meta": {}, "errors": [], "jobs": [
              {"job_id": 7, "job_state": "RUNNING", "state_reason": "None", "nodes": "n[1-2]",
               "job_resources": {"nodes": "n[1-2]", "allocated_nodes": [{"nodename": "n1"}, {"nodename": "n2"}]}},
              {"job_id": 8, "job_state": "PENDING", "state_reason": "Resources", "nodes": "", "job_resources": {}}]}
            """
        let jobs = try SlurmOutput.jobs(queue)
        #expect(jobs["7"] == SlurmJobStatus(id: "7", state: "RUNNING", reason: "None", nodes: ["n1", "n2"]))
        #expect(jobs["8"]?.isPending == true && jobs["8"]?.nodes == [])
        let nodes = try SlurmOutput.nodes("""
            {"nodes": [{"name": "n1", "address": "127.0.0.1", "state": "allocated", "state_flags": []},
                       {"name": "n3", "address": "127.0.0.1", "state": "down", "state_flags": ["NOT_RESPONDING"]}]}
            """)
        #expect(nodes["n1"]?.failure == nil)
        #expect(nodes["n3"]?.failure == "Slurm reports n3 not responding")
        #expect(throws: SlurmOutput.Unreadable.self) { try SlurmOutput.jobs("squeue: error: ...") }
        #expect(SlurmOutput.hostnames("n1\nn2\n\n") == ["n1", "n2"])
    }

    @Test func timeLimits() {
        #expect(SlurmTimeLimit.seconds("30") == 1800)
        #expect(SlurmTimeLimit.seconds("5:30") == 330)
        #expect(SlurmTimeLimit.seconds("2:00:00") == 7200)
        #expect(SlurmTimeLimit.seconds("1-12") == 129_600)
        #expect(SlurmTimeLimit.seconds("1-0:30") == 88_200)
        #expect(SlurmTimeLimit.seconds("1-0:0:5") == 86_405)
        #expect(SlurmTimeLimit.seconds("abc") == nil && SlurmTimeLimit.seconds("1:2:3:4") == nil && SlurmTimeLimit.seconds("") == nil)
        #expect(SlurmTimeLimit.isUnlimited("UNLIMITED"))
    }
}
