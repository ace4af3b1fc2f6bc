import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import RingmasterTestKit
import SystemUtilities
import Testing

/// The HTTP API of a real controller process on a local cluster: authentication, errors, metrics.
@Suite(.serialized, .timeLimit(.minutes(3))) struct APITests {
    @Test func everyEndpointButHealthzNeedsTheToken() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let controller = try await ControllerProcess.start(cluster: try localCluster(dir, nodes: 1),
                                                           stateDirectory: dir.file("state"))
        // The token file is private to the user.
        let mode = try FileManager.default.attributesOfItem(atPath: controller.directory.tokenFile)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(controller.token.count == 64)
        let url = controller.info.url
        // A token that differs from the real one in its last character only (never equal to it: the
        // replacement is chosen against the real last character).
        let nearMiss = String(controller.token.dropLast()) + (controller.token.last == "0" ? "1" : "0")
        for token in [nil, "wrong", nearMiss] {
            let status = await status {
                _ = try await onDedicatedThread(name: "call") {
                    try ControllerClient(url: url, token: token).call("GET", "/v1/jobs")
                }
            }
            #expect(status == 401, "token \(token ?? "none")")
        }
        let metrics = await status {
            _ = try await onDedicatedThread(name: "call") { try ControllerClient(url: url, token: nil).call("GET", "/metrics") }
        }
        #expect(metrics == 401)
        let health = try await onDedicatedThread(name: "call") {
            try ControllerClient(url: url, token: nil).get("/healthz", as: ControllerInfo.self)
        }
        #expect(health.cluster == "local")
        #expect(health.pid == controller.pid)
        // The CLI with a wrong token exits 77 and shows the API's message.
        let cli = try await ChildProcess.run(
            ["/usr/bin/env", "RINGMASTER_TOKEN=bad", try BuiltProducts.executable("ringmaster"), "jobs", "--state-dir",
             controller.stateDirectory], mergeStderr: true)
        #expect(cli.termination == .exited(77))
        #expect(cli.output.contains("unauthorized: wrong bearer token"))
        #expect(await controller.stop() == 0)
    }

    @Test func badRequestsGetTheirStatusAndEveryManifestError() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let controller = try await ControllerProcess.start(cluster: try localCluster(dir, nodes: 2),
                                                           stateDirectory: dir.file("state"))
        try await controller.waitForReadyNodes(2)
        // An invalid manifest: 400 with each error as the validator writes it.
        let bad = try dir.write("bad.yaml", "name: bad\ncomand: [true]\nparallelism: {data: 0}\n")
        let result = try await controller.cli(["submit", bad])
        #expect(result.termination == .exited(65))
        #expect(result.output.contains("invalid job manifest \(bad)"))
        #expect(result.output.contains("\(bad):2: comand: unknown field"))
        #expect(result.output.contains("\(bad):3: parallelism.data:"))
        // A job larger than the whole cluster can never run: 400, naming the field.
        let huge = try dir.write("huge.yaml", "name: huge\ncommand: [true]\nparallelism: {data: 64}\n")
        let hugeResult = try await controller.cli(["submit", huge])
        #expect(hugeResult.termination == .exited(65))
        #expect(hugeResult.output.contains("job huge can never run on this cluster"))
        #expect(hugeResult.output.contains("\(huge):3: parallelism"))
        // Nothing was stored by either.
        #expect(try await controller.call { try $0.get("/v1/jobs", as: [JobView].self) }.isEmpty)
        // Unknown job: 404 from the API, exit 66 and the message from the CLI.
        #expect(await status { _ = try await controller.detail("nope-1") } == 404)
        let missing = try await controller.cli(["status", "nope-1"])
        #expect(missing.termination == .exited(66))
        #expect(missing.output.contains("no job nope-1"))
        // A body over 1 MiB is refused.
        let big = SubmitRequest(manifest: String(repeating: "#", count: 2 << 20), path: "/big.yaml")
        #expect(await status { _ = try await controller.call { try $0.post("/v1/jobs", body: big, as: JobView.self) } } == 413)
        // Not JSON at all.
        #expect(await status { _ = try await controller.call { try $0.call("POST", "/v1/jobs", body: Data("{".utf8)) } } == 400)
        // Malformed query parameters are 400 naming the parameter, never ignored.
        for (path, name) in [("/v1/events?after=abc", "after"), ("/v1/events?limit=-5", "limit"), ("/v1/events?limit=0", "limit"),
                             ("/v1/events?follow=maybe", "follow")] {
            do {
                _ = try await controller.call { try $0.call("GET", path) }
                Issue.record("\(path) was accepted")
            } catch let failure as ControllerClient.Failure {
                #expect(failure.status == 400 && failure.body.error.hasPrefix("query parameter \(name)="), "\(path): \(failure.body)")
                #expect(failure.body.hint?.hasPrefix(name) == true)
            }
        }
        let job = try await controller.submit(try dir.write("t.yaml", "name: t\ncommand: [true]\nresources: {acceleratorsPerRank: 1}\n"))
        _ = try await controller.waitForJob(job.id)
        // The store and the rank logs hold manifests, environments and output: readable by their owner only.
        var st = stat()
        for file in [controller.directory.database, controller.directory.logDirectory(job: job.id, attempt: 1) + "/rank-0.log"]
        where FileManager.default.fileExists(atPath: file) {
            _ = stat(file, &st)
            #expect(st.st_mode & 0o777 == 0o600, "\(file): \(String(st.st_mode & 0o777, radix: 8))")
        }
        _ = stat(controller.directory.database, &st)
        #expect(st.st_mode & 0o777 == 0o600)
        #expect(await status { _ = try await controller.call { try $0.call("GET", "/v1/jobs/\(job.id)/logs?tail=-1") } } == 400)
        #expect(await status { _ = try await controller.call { try $0.call("GET", "/v1/jobs/\(job.id)/logs?attempt=0") } } == 400)
        #expect(await status { _ = try await controller.call { try $0.call("GET", "/v1/jobs/\(job.id)/logs?attempt=7") } } == 404)
        // An unknown node is 404; a known one that is not quarantined is 409.
        #expect(await status { _ = try await controller.call { try $0.call("POST", "/v1/nodes/no-such-node/release", body: Data("{}".utf8)) } } == 404)
        #expect(await status { _ = try await controller.call { try $0.call("POST", "/v1/nodes/local-0/release", body: Data("{}".utf8)) } } == 409)
        #expect(await controller.stop() == 0)
    }

    @Test func metricsAndNodesDescribeTheCluster() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let controller = try await ControllerProcess.start(cluster: try localCluster(dir, nodes: 3),
                                                           stateDirectory: dir.file("state"))
        try await controller.waitForReadyNodes(3)
        let text = String(decoding: try await controller.call { try $0.call("GET", "/metrics") }, as: UTF8.self)
        #expect(text.contains(#"ringmaster_nodes{state="ready"} 3.0"#))
        #expect(text.contains(#"ringmaster_jobs{state="running"} 0.0"#))
        #expect(text.contains("ringmaster_failure_detection_seconds_bucket"))
        #expect(text.contains("ringmaster_recovery_seconds_bucket"))
        #expect(text.contains("# HELP ringmaster_nodes Nodes by state."))
        #expect(text.contains("ringmaster_job_restarts 0.0"))
        let nodes = try await controller.call { try $0.get("/v1/nodes", as: [NodeView].self) }
        #expect(nodes.map(\.id) == ["local-0", "local-1", "local-2"])
        #expect(nodes.allSatisfy { $0.state == .ready && $0.accelerators.count == 2 && $0.cpus != nil })
        let table = try await controller.cli(["nodes"])
        #expect(table.succeeded)
        #expect(table.output.contains("local-2") && table.output.contains("2× simulated"))
        #expect(await controller.stop() == 0)
        // Stopped cleanly: the info file is gone, and the CLI says no controller is running (exit 69).
        #expect(!FileManager.default.fileExists(atPath: controller.directory.infoFile))
        let after = try await ChildProcess.run([try BuiltProducts.executable("ringmaster"), "jobs", "--state-dir", dir.file("state"),
                                                "--controller", controller.info.url], mergeStderr: true)
        #expect(after.termination == .exited(69))
        #expect(after.output.contains("no controller is answering at \(controller.info.url)"))
    }

    @Test func aSecondControllerOnTheSameStateDirectoryRefuses() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let cluster = try localCluster(dir, nodes: 1)
        let first = try await ControllerProcess.start(cluster: cluster, stateDirectory: dir.file("state"))
        let second = try await ChildProcess.run(
            [try BuiltProducts.executable("ringmaster"), "controller", "--cluster", cluster, "--state-dir", dir.file("state"),
             "--listen", "127.0.0.1:0"], mergeStderr: true)
        #expect(second.termination == .exited(75))
        #expect(second.output.contains("another controller or `ringmaster run` (pid \(first.info.pid), API at \(first.info.url)) already uses"))
        // `ringmaster run` takes the same lock (issue 13's regression): it never writes a controller's store.
        let job = try dir.write("steps.yaml", "name: steps\ncommand: [true]\nparallelism: {data: 1}\nresources: {acceleratorsPerRank: 1}\n")
        let run = try await ChildProcess.run(
            [try BuiltProducts.executable("ringmaster"), "run", job, "--cluster", cluster, "--state-dir", dir.file("state")], mergeStderr: true)
        #expect(run.termination == .exited(75), "\(run.output)")
        #expect(run.output.contains("already uses the state directory \(dir.file("state"))"), "\(run.output)")
        #expect(await first.stop() == 0)
        // With the controller gone, the same `ringmaster run` takes the directory and runs its job.
        let alone = try await ChildProcess.run(
            [try BuiltProducts.executable("ringmaster"), "run", job, "--cluster", cluster, "--state-dir", dir.file("state")], mergeStderr: true)
        #expect(alone.termination == .exited(0), "\(alone.output)")
    }
}
