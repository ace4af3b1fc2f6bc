import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import RingmasterSSHTestKit
import RingmasterTestKit
import SystemUtilities
import Testing

/// The three rank-contract workloads on the 4-host network-namespace cluster: the controller runs in
/// the controller namespace and reaches each host's sshd over its veth; ranks find the rendezvous at
/// the controller's address and rank 0's host as MASTER_ADDR.
@Suite(.serialized, .timeLimit(.minutes(6)),
       .enabled(if: TestEnvironment.canRunRootTests, Comment(rawValue: TestEnvironment.skipMessage)))
struct NetnsWorkloadTests {
    @Test func theSmokePythonAndTorchWorkloadsRunOverSSH() async throws {
        try TestEnvironment.requireRoot()
        try await NetnsCluster.with() { cluster, dir in try await run(cluster, dir) }
    }

    func run(_ cluster: NetnsCluster, _ dir: TemporaryDirectory) async throws {
        let inventory = try dir.write("netns.yaml", cluster.inventoryYAML())
        let controller = try await ControllerProcess.start(
            cluster: inventory, stateDirectory: dir.file("state"),
            launcher: ["/usr/bin/env", "ip", "netns", "exec", cluster.controllerNamespaceName])
        try await eventually("4 hosts ready", within: .seconds(60), every: .milliseconds(200)) {
            try await controller.cliJSON(["nodes"], as: [NodeView].self).filter { $0.state == .ready }.count == 4
        }
        // CPU-only hosts: two ranks on each.
        let cpu = "resources: {acceleratorsPerRank: 0, ranksPerNode: 2}\n"
        let smoke = try dir.write("smoke.yaml", """
            name: smoke
            command: [ringmaster-smoke, "10"]
            parallelism: {data: 2, pipeline: 2, tensor: 2}
            \(cpu)
            """)
        let python = try dir.write("python.yaml", """
            name: python
            command: [python3, \(manifests)/jobs/scripts/report_steps.py, "10"]
            parallelism: {data: 2, pipeline: 2, tensor: 2}
            \(cpu)
            """)
        for (file, name) in [(smoke, "smoke-1"), (python, "python-2")] {
            let result = try await controller.cli(["submit", file, "--wait"])
            #expect(result.termination == .exited(0), "\(result.output)")
            let detail = try await controller.cliJSON(["status", name], as: JobDetail.self)
            #expect(detail.ranks.map(\.node) == ["h1", "h1", "h2", "h2", "h3", "h3", "h4", "h4"])
            #expect(detail.ranks.allSatisfy { $0.exitStatus == 0 && $0.lastStep == 10 })
        }
        let smokeLog = try await controller.cli(["logs", "smoke-1", "--rank", "6"]).output
        #expect(smokeLog.contains("rank 6/8: all-reduce over the world and tensor [6, 7], data [4, 6], pipeline [2, 6] correct"))
        let pythonLog = try await controller.cli(["logs", "python-2", "--rank", "7"]).output
        #expect(pythonLog.contains("rank 7/8 on"))

        if torchWheel != nil {
            let python = try await torchPython()
            let ddp = try dir.write("ddp.yaml", """
                name: ddp
                command: [\(python), \(manifests)/jobs/scripts/torch_ddp.py, "10"]
                env: {PYTHONUNBUFFERED: "1", OMP_NUM_THREADS: "1", GLOO_SOCKET_IFNAME: eth0}
                parallelism: {data: 4}
                \(cpu)
                """)
            let result = try await controller.cli(["submit", ddp, "--wait"])
            #expect(result.termination == .exited(0), "\(result.output)")
            let logs = try await controller.cli(["logs", "ddp-3", "--tail", "1000"]).output
            // MASTER_ADDR is rank 0's host, reached over the namespace network.
            #expect(logs.contains("[rank 3] rank 3/4 local 1 on 10.213.0.11:"), "\(logs)")
            #expect(logs.components(separatedBy: "parameters identical on every rank: True").count == 5)
        }
        #expect(await controller.stop() == 0)
        await NetnsJobs.expectNothingButSSHDLeft(on: cluster)
    }
}
