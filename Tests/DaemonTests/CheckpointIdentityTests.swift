import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import RingmasterTestKit
import Testing

/// Issue 20: a job's checkpoints are its own. Job ids are per state directory, so two controllers (or one
/// after its state directory was replaced) give the same manifest the same id; each job's folder is keyed
/// by its identity `<id>.<uid>` instead, and the controller prunes and resumes only steps its store
/// recorded for that job.
@Suite(.serialized, .timeLimit(.minutes(8))) struct CheckpointIdentityTests {
    /// The reference trainer, 160 steps with a checkpoint every 20, into `ckpt` shared by every job here.
    static func trainer(_ dir: TemporaryDirectory, name: String = "same", resumeFrom: String? = nil) throws -> String {
        try dir.write("\(name)\(resumeFrom == nil ? "" : "-resume").yaml", """
            name: \(name)
            command: [ringmaster-train, --preset, micro, --steps, "160", --batch, "8", --checkpoint-every, "20", --log-every, "0", --print-hash]
            parallelism: {data: 2, pipeline: 2, tensor: 2}
            checkpoint: {every: 20, keep: 2, dir: \(dir.file("ckpt"))\(resumeFrom.map { ", resumeFrom: \($0)" } ?? "")}
            failure: {maxRestarts: 4, backoff: 200ms, stallTimeout: 10s}
            """)
    }

    static func finish(_ c: ControllerProcess, _ job: String) async throws -> (JobView, [String]) {
        let done = try await c.waitForJob(job, within: .seconds(300))
        #expect(done.state == .succeeded, "\(job): \(done.reason ?? "")")
        let hashes = try await FaultTests.hashes(c, job)
        #expect(hashes.count == 8)
        return (done, hashes)
    }

    /// Kills rank 3 once the job has committed two steps of its own.
    static func killAfterTwoCommits(_ c: ControllerProcess, _ job: String) async throws {
        _ = try await c.waitForEvent(job: job) { $0.kind == "checkpoint.committed" && $0.message.contains("step 40 ") }
        try await c.chaos(["kill-rank", job, "--rank", "3"])
    }

    static func stepFolders(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasPrefix("step-") }.sorted()
    }

    @Test func aSecondStateDirectoryNeverPrunesNorResumesTheEarlierRunsSteps() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // The earlier run: a controller on state directory A, failure-free. It is also the reference.
        let a = try await ControllerProcess.start(cluster: try localCluster(dir), stateDirectory: dir.file("state-a"))
        try await a.waitForReadyNodes(4)
        let first = try await a.submit(try Self.trainer(dir)).id
        let (firstView, expected) = try await Self.finish(a, first)
        #expect(await a.stop() == 0)
        let earlierFolder = try #require(firstView.checkpointDir)
        let earlierSteps = Self.stepFolders(earlierFolder)
        #expect(earlierSteps == ["step-140", "step-160"])

        // A fresh state directory: the same manifest gets the same job id, but a folder of its own.
        let b = try await ControllerProcess.start(cluster: try localCluster(dir), stateDirectory: dir.file("state-b"))
        try await b.waitForReadyNodes(4)
        let second = try await b.submit(try Self.trainer(dir)).id
        #expect(second == first)
        try await Self.killAfterTwoCommits(b, second)
        let (secondView, hashes) = try await Self.finish(b, second)
        #expect(hashes == expected)
        #expect(secondView.checkpointDir != earlierFolder)
        #expect(secondView.restarts == 1)
        // It resumed from a step of its own (40 or a little later), not from the earlier run's 160.
        let resume = try #require(try await b.detail(second).attempts.dropFirst().first?.resumeStep)
        #expect((40..<140).contains(resume), "attempt 2 resumed from step \(resume)")
        // Nothing of the earlier run was touched.
        #expect(Self.stepFolders(earlierFolder) == earlierSteps)
        #expect(await b.stop() == 0)
    }

    @Test func twoControllersOnOneCheckpointDirectoryBothFinishWithTheirOwnSteps() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let x = try await ControllerProcess.start(cluster: try localCluster(dir), stateDirectory: dir.file("state-x"))
        let y = try await ControllerProcess.start(cluster: try localCluster(dir), stateDirectory: dir.file("state-y"))
        try await x.waitForReadyNodes(4)
        try await y.waitForReadyNodes(4)
        let reference = try await x.submit(try Self.trainer(dir, name: "reference")).id
        let (_, expected) = try await Self.finish(x, reference)
        // The same manifest on both controllers at once, each with a rank killed after two commits.
        let manifest = try Self.trainer(dir)
        let jx = try await x.submit(manifest).id
        let jy = try await y.submit(manifest).id
        #expect(jx == "same-2" && jy == "same-1")
        try await Self.killAfterTwoCommits(x, jx)
        try await Self.killAfterTwoCommits(y, jy)
        let (vx, hx) = try await Self.finish(x, jx)
        let (vy, hy) = try await Self.finish(y, jy)
        #expect(hx == expected && hy == expected)
        #expect(vx.checkpointDir != vy.checkpointDir)
        #expect(await x.stop() == 0)
        #expect(await y.stop() == 0)
    }

    @Test func resumeFromContinuesAnotherJobsCommittedStepAndRefusesAnUncommittedOrCorruptOne() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let c = try await ControllerProcess.start(cluster: try localCluster(dir), stateDirectory: dir.file("state"))
        try await c.waitForReadyNodes(4)
        let earlier = try await c.submit(try Self.trainer(dir, name: "earlier")).id
        let (earlierView, expected) = try await Self.finish(c, earlier)
        let folder = try #require(earlierView.checkpointDir)

        // Continuing from step 140 of the earlier job ends where the earlier job ended, bit for bit.
        let resumed = try await c.submit(try Self.trainer(dir, name: "continued", resumeFrom: "\(folder)/step-140")).id
        let (resumedView, hashes) = try await Self.finish(c, resumed)
        #expect(hashes == expected)
        let detail = try await c.detail(resumed)
        #expect(detail.attempts.first?.resumeStep == 140)
        #expect(resumedView.checkpointDir != folder)
        let imported = try await c.events(job: resumed).filter { $0.kind == "checkpoint.committed" }.map(\.message)
        #expect(imported.first?.contains("imported from \(folder)/step-140") == true, "\(imported)")
        #expect(Self.stepFolders(folder) == ["step-140", "step-160"])

        // An uncommitted step (no COMMITTED marker) and a corrupt one are refused at submit, naming the field.
        let fm = FileManager.default
        let uncommitted = dir.file("copies/step-160")
        try fm.createDirectory(atPath: dir.file("copies"), withIntermediateDirectories: true)
        try fm.copyItem(atPath: "\(folder)/step-160", toPath: uncommitted)
        try fm.removeItem(atPath: "\(uncommitted)/COMMITTED")
        let corrupt = dir.file("corrupt/step-160")
        try fm.createDirectory(atPath: dir.file("corrupt"), withIntermediateDirectories: true)
        try fm.copyItem(atPath: "\(folder)/step-160", toPath: corrupt)
        let handle = try #require(FileHandle(forUpdatingAtPath: "\(corrupt)/rank-5/parameters.bin"))
        try handle.seek(toOffset: 10)
        try handle.write(contentsOf: Data(repeating: 0x5A, count: 8))
        try handle.close()
        for (source, words) in [(uncommitted, "is not committed"), (corrupt, "does not verify")] {
            let manifest = try Self.trainer(dir, name: "refused", resumeFrom: source)
            do {
                _ = try await c.submit(manifest)
                Issue.record("a resumeFrom of \(source) was accepted")
            } catch let failure as ControllerClient.Failure {
                #expect(failure.status == 400)
                let detail = failure.body.details.joined(separator: "\n")
                #expect(detail.contains("checkpoint.resumeFrom: \(source) \(words)"), "\(detail)")
            }
        }
        #expect(try await c.call { try $0.get("\(APIVersion.prefix)/jobs", as: [JobView].self) }.allSatisfy { $0.name != "refused" })
        #expect(await c.stop() == 0)
    }
}
