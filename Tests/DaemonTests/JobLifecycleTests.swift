import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import RingmasterTestKit
import SystemUtilities
import Testing

/// Jobs through a real controller on a local 4-node cluster: the rank contract workloads, logs, pending
/// jobs and cancellation.
@Suite(.serialized, .timeLimit(.minutes(4))) struct JobLifecycleTests {
    @Test func theSmokeAndPythonWorkloadsRunAndTheirLogsAndProgressAreKept() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let controller = try await ControllerProcess.start(cluster: try localCluster(dir), stateDirectory: dir.file("state"))
        try await controller.waitForReadyNodes(4)

        // The Swift smoke program: all-reduce over the world and every sub-group, values checked.
        let smoke = try await controller.submit(manifests + "/jobs/smoke.yaml")
        #expect(smoke.state == .pending && smoke.worldSize == 8)
        let done = try await controller.waitForJob(smoke.id)
        #expect(done.state == .succeeded, "\(done.reason ?? "")")
        #expect(done.step == 20)
        let detail = try await controller.detail(smoke.id)
        #expect(detail.ranks.count == 8)
        #expect(detail.ranks.allSatisfy { $0.state == .exited && $0.exitStatus == 0 && $0.lastStep == 20 })
        #expect(detail.ranks.map(\.node) == ["local-0", "local-0", "local-1", "local-1", "local-2", "local-2", "local-3", "local-3"])
        let logs = try await controller.cli(["logs", smoke.id, "--rank", "5"])
        #expect(logs.output.contains("rank 5/8: all-reduce over the world and tensor [4, 5], data [5, 7], pipeline [1, 5] correct for 20 steps"))
        let kinds = try await controller.events(job: smoke.id).map(\.kind)
        #expect(kinds.first == "job.submitted")
        #expect(kinds.filter { $0 == "rank.started" }.count == 8 && kinds.filter { $0 == "rank.exited" }.count == 8)
        #expect(kinds.contains("attempt.stepping") && kinds.last == "job.state")
        // The loss series: the progress rank's reports (loss = 1/step) to the last step, downsampled on request;
        // `status` draws it on one line.
        let series = try await controller.call { try $0.get("/v1/jobs/\(smoke.id)/series?metric=loss", as: SeriesView.self) }
        #expect(series.metrics.contains("loss"))
        #expect(series.points.last?.step == 20 && series.points.last?.value == 1.0 / 20, "\(series.points)")
        #expect(series.points.count >= 10 && zip(series.points, series.points.dropFirst()).allSatisfy { $0.value > $1.value })
        let five = try await controller.call { try $0.get("/v1/jobs/\(smoke.id)/series?metric=loss&points=5", as: SeriesView.self) }
        #expect(five.points.count == 5 && five.points.last?.step == 20)
        #expect(five.points.map(\.count).reduce(0, +) == series.points.map(\.count).reduce(0, +))
        let shown = try await controller.cli(["status", smoke.id])
        #expect(shown.output.contains("  loss       █"), "\(shown.output)")
        #expect(shown.output.contains("→ 0.05 (step "), "\(shown.output)")
        for (path, code) in [("/v1/jobs/\(smoke.id)/series?points=0", 400), ("/v1/jobs/\(smoke.id)/series?points=x", 400),
                             ("/v1/jobs/nope-1/series", 404)] {
            #expect(await status { _ = try await controller.call { try $0.call("GET", path) } } == code, "\(path)")
        }

        // The Python script (standard library only), through the CLI with --wait: exit 0, events printed.
        let python = try await controller.cli(["submit", manifests + "/jobs/python-steps.yaml", "--wait"])
        #expect(python.termination == .exited(0), "\(python.output)")
        #expect(python.output.contains("submitted python-steps-2 (8 ranks)"))
        #expect(python.output.contains("job python-steps-2 running → succeeded"))
        let all = try await controller.cli(["logs", "python-steps-2", "--tail", "1"])
        #expect(all.output.split(separator: "\n").count == 8)
        #expect(all.output.contains("[rank 7] rank 7 done after step 20"))
        let jobs = try await controller.cli(["jobs", "--json"])
        let views = try APICoding.decoder().decode([JobView].self, from: Data(jobs.output.utf8))
        #expect(views.map(\.id) == ["python-steps-2", "smoke-1"])
        #expect(views[0].step == 20)
        #expect(await controller.stop() == 0)
    }

    @Test func aJobThatDoesNotFitWaitsAsPendingAndRunsWhenNodesFreeUp() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let controller = try await ControllerProcess.start(cluster: try localCluster(dir, nodes: 2), stateDirectory: dir.file("state"))
        try await controller.waitForReadyNodes(2)
        let long = try dir.write("long.yaml", "name: long\ncommand: [sleep, \"60\"]\nparallelism: {data: 4}\n")
        let short = try dir.write("short.yaml", "name: short\ncommand: [\"true\"]\nparallelism: {data: 2}\n")
        let first = try await controller.submit(long)
        try await eventually("the long job running", within: .seconds(30), every: .milliseconds(50)) {
            let ranks = try await controller.detail(first.id).ranks
            return ranks.count == 4 && ranks.allSatisfy { $0.state == .starting }
        }
        let second = try await controller.submit(short)
        try await eventually("the short job's pending reason", within: .seconds(10), every: .milliseconds(50)) {
            try await controller.detail(second.id).job.reason?.hasPrefix("waiting for nodes") ?? false
        }
        let status = try await controller.cli(["status", second.id])
        #expect(status.output.contains("job \(second.id): pending — waiting for nodes:"))
        #expect(status.output.contains("(0 free ready nodes)"))
        // Cancelling the long job stops its ranks (SIGTERM), answers once they are gone, and frees the nodes.
        let cancel = try await controller.cli(["cancel", first.id])
        #expect(cancel.output.contains("\(first.id) cancelled"), "\(cancel.output)")
        let ranks = try await controller.detail(first.id).ranks
        #expect(ranks.allSatisfy { $0.state == .exited && $0.exitSignal == 15 })
        for pid in ranks.compactMap(\.pid) { #expect(!processIsAlive(pid)) }
        #expect(try await controller.waitForJob(second.id).state == .succeeded)
        // A finished job cannot be cancelled: 409 with the reason.
        let again = try await controller.cli(["cancel", first.id])
        #expect(again.termination == .exited(1))
        #expect(again.output.contains("job \(first.id) already cancelled"))
        // Cancelling a pending job needs no ranks: it never gets an attempt.
        let blocker = try await controller.submit(long)
        try await eventually("the second long job running", within: .seconds(30), every: .milliseconds(50)) {
            try await controller.detail(blocker.id).job.state == .running
        }
        let third = try await controller.submit(short)
        try await eventually("the third job pending", within: .seconds(10), every: .milliseconds(50)) {
            try await controller.detail(third.id).job.reason?.hasPrefix("waiting for nodes") ?? false
        }
        let pendingCancel = try await controller.cli(["cancel", third.id, "--json"])
        let cancelled = try APICoding.decoder().decode(JobView.self, from: Data(pendingCancel.output.utf8))
        #expect(cancelled.state == .cancelled && cancelled.attempt == nil)
        // Stopping the controller stops the running job's ranks before it exits.
        try await eventually("the blocker's ranks started", within: .seconds(30), every: .milliseconds(50)) {
            try await controller.detail(blocker.id).ranks.allSatisfy { $0.pid != nil }
        }
        let pids = try await controller.detail(blocker.id).ranks.compactMap(\.pid)
        #expect(pids.count == 4)
        #expect(await controller.stop() == 0)
        for pid in pids { #expect(!processIsAlive(pid)) }
    }
}
