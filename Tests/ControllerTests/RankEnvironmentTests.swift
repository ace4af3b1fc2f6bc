import Controller
import Planning
import RingmasterModel
import Testing

@Suite struct RankEnvironmentContract {
    func environment(kind: AcceleratorKind) throws -> RankEnvironment {
        var spec = JobSpec(name: "demo", command: ["train"], env: ["FOO": "bar", "PATH": "/job/bin"],
                           parallelism: Parallelism(data: 2, pipeline: 2, tensor: 2))
        spec.checkpoint = CheckpointPolicy(every: 10, dir: "/ckpt")
        spec.failure.maxRestarts = 7
        let nodes = (0..<4).map {
            NodeSlots(id: NodeID("n\($0)"), spare: false, capacity: 2, devices: [0, 1], reason: "")
        }
        let placement = try Placer(job: spec).place(on: nodes)
        return RankEnvironment(
            job: "demo-3", spec: spec, attempt: 2, placement: placement, token: AttemptToken(rawValue: String(repeating: "ab", count: 32)),
            rendezvous: "127.0.0.1:4000", masterAddress: "10.213.0.11", masterPort: 29500, resumeStep: 40,
            acceleratorKinds: Dictionary(uniqueKeysWithValues: (0..<4).map { (NodeID("n\($0)"), kind) }),
            base: ["PATH": "/rm/bin:/usr/bin", "HOME": "/root"], checkpointDirectory: "/ckpt/demo-3.00c0ffee0042")
    }

    @Test func everyContractVariableForRankFive() throws {
        let env = try environment(kind: .nvidia).variables(rank: 5)
        let expected: [String: String] = [
            "RANK": "5", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2", "NODE_RANK": "2",
            "GROUP_RANK": "2", "MASTER_ADDR": "10.213.0.11", "MASTER_PORT": "29500",
            "TORCHELASTIC_RESTART_COUNT": "1", "TORCHELASTIC_MAX_RESTARTS": "7", "TORCHELASTIC_RUN_ID": "demo-3",
            "RINGMASTER_JOB_ID": "demo-3", "RINGMASTER_ATTEMPT": "2",
            "RINGMASTER_TP_RANK": "1", "RINGMASTER_TP_SIZE": "2", "RINGMASTER_PP_RANK": "1", "RINGMASTER_PP_SIZE": "2",
            "RINGMASTER_DP_RANK": "0", "RINGMASTER_DP_SIZE": "2", "RINGMASTER_RENDEZVOUS": "127.0.0.1:4000",
            "RINGMASTER_TOKEN": String(repeating: "ab", count: 32), "RINGMASTER_CHECKPOINT_DIR": "/ckpt/demo-3.00c0ffee0042",
            "RINGMASTER_RESUME_STEP": "40", "RINGMASTER_RESUME_DIR": "/ckpt/demo-3.00c0ffee0042/step-40",
            "RINGMASTER_ACCELERATORS": "1", "CUDA_VISIBLE_DEVICES": "1",
            "FOO": "bar", "PATH": "/job/bin", "HOME": "/root",
        ]
        #expect(env == expected)
    }

    @Test func visibleDevicesFollowTheAcceleratorKind() throws {
        #expect(try environment(kind: .amd).variables(rank: 0)["HIP_VISIBLE_DEVICES"] == "0")
        #expect(try environment(kind: .amd).variables(rank: 0)["CUDA_VISIBLE_DEVICES"] == nil)
        let simulated = try environment(kind: .simulated).variables(rank: 0)
        #expect(simulated["CUDA_VISIBLE_DEVICES"] == nil && simulated["HIP_VISIBLE_DEVICES"] == nil)
        #expect(simulated["RINGMASTER_ACCELERATORS"] == "0")
    }
}

