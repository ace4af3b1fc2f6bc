import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import RingmasterSSHTestKit
import RingmasterTestKit
import Synchronization
import SystemUtilities
import Testing

/// A controller in the namespace cluster's controller namespace, driven through the CLI (its API is inside the
/// namespace), and what the fault tests on that cluster ask of it.
struct NetnsJobs {
    let cluster: NetnsCluster
    let dir: TemporaryDirectory
    let controller: ControllerProcess

    /// Starts the controller on the cluster's inventory (`spares` held back) and waits until every host is ready.
    static func start(_ cluster: NetnsCluster, _ dir: TemporaryDirectory, spares: Set<String> = []) async throws -> NetnsJobs {
        var yaml = cluster.inventoryYAML()
        for spare in spares {
            yaml = yaml.replacingOccurrences(
                of: "name: \(spare), port: 22, user: root, spare: false", with: "name: \(spare), port: 22, user: root, spare: true")
        }
        let inventory = try dir.write("netns.yaml", yaml)
        let c = try await ControllerProcess.start(
            cluster: inventory, stateDirectory: dir.file("state"),
            launcher: ["/usr/bin/env", "ip", "netns", "exec", cluster.controllerNamespaceName])
        let jobs = NetnsJobs(cluster: cluster, dir: dir, controller: c)
        let count = cluster.hosts.count
        try await eventually("\(count) hosts ready", within: .seconds(60), every: .milliseconds(200)) {
            try await jobs.nodes().filter { $0.state == .ready }.count == count
        }
        return jobs
    }

    /// The reference trainer (8 ranks, data 2 × pipeline 2 × tensor 2, two ranks per host) as a job manifest.
    func trainer(_ name: String, steps: Int, checkpointEvery: Int = 20, stallTimeout: String = "5s") throws -> String {
        try dir.write("\(name).yaml", """
            name: \(name)
            command: [ringmaster-train, --preset, micro, --steps, "\(steps)", --batch, "8", --checkpoint-every, "\(checkpointEvery)", --log-every, "0", --print-hash]
            parallelism: {data: 2, pipeline: 2, tensor: 2}
            resources: {acceleratorsPerRank: 0, ranksPerNode: 2}
            checkpoint: {every: \(checkpointEvery), keep: 3, dir: \(dir.file("ckpt"))}
            failure: {maxRestarts: 5, backoff: 200ms, stallTimeout: \(stallTimeout)}
            """)
    }

    /// Runs the manifest to its end without faults and returns its ranks' parameter hashes.
    func referenceHashes(_ manifest: String, job: String) async throws -> [String] {
        let reference = try await controller.cli(["submit", manifest, "--wait"])
        #expect(reference.termination == .exited(0), "\(reference.output)")
        let hashes = try await parameterHashes(job)
        #expect(hashes.count == 8)
        return hashes
    }

    func parameterHashes(_ job: String) async throws -> [String] {
        try await controller.cli(["logs", job, "--tail", "10000"]).output.split(separator: "\n")
            .filter { $0.contains("parameter-hash rank") }.map(String.init).sorted()
    }

    func events(_ job: String) async throws -> [EventView] {
        try await controller.cliJSON(["events", "--job", job], as: [EventView].self)
    }

    func nodeEvents(_ node: String) async throws -> [EventView] {
        try await controller.cliJSON(["events"], as: [EventView].self).filter { $0.kind == "node.state" && $0.node == node }
    }

    func nodes() async throws -> [NodeView] {
        try await controller.cliJSON(["nodes"], as: [NodeView].self)
    }

    func node(_ id: String) async throws -> NodeView? {
        try await nodes().first { $0.id == id }
    }

    func status(_ job: String) async throws -> JobDetail {
        try await controller.cliJSON(["status", job], as: JobDetail.self)
    }

    /// Waits (two minutes at most: a bound for a broken run, not a measurement) for an event of the job.
    @discardableResult
    func waitFor(_ job: String, _ what: String, _ predicate: @escaping @Sendable (EventView) -> Bool) async throws -> EventView {
        let found = Mutex<EventView?>(nil)
        try await eventually(what, within: .seconds(120), every: .milliseconds(200)) {
            let e = try await events(job).first(where: predicate)
            found.withLock { $0 = e }
            return e != nil
        }
        return found.withLock { $0! }
    }

    /// Follows the job's events until it ends; true when it succeeded.
    func waitForEnd(_ job: String) async throws -> (succeeded: Bool, output: String) {
        let done = try await controller.cli(["events", "-f", "--job", job])
        return (done.output.contains("job \(job) running → succeeded"), done.output)
    }

    /// Nothing but sshd is left on any host, once each agent has seen its channel close and stopped (the
    /// controller's exit does not wait for remote agents: on a loaded machine they take a moment).
    static func expectNothingButSSHDLeft(on cluster: NetnsCluster) async {
        for (i, host) in cluster.hosts.enumerated() {
            do {
                try await eventually("nothing but sshd on \(host.name)", within: .seconds(30), every: .milliseconds(100)) {
                    await cluster.processesBesidesSSHD(i + 1).isEmpty
                }
            } catch {
                Issue.record("left on \(host.name): \(await cluster.processesBesidesSSHD(i + 1).values.sorted())")
            }
        }
    }
}
