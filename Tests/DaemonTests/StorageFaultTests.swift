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

/// Issue 14, storage faults, end to end: the checkpoint folder and the state directory on a full filesystem
/// (small tmpfs mounts: root only, a failure on CI when not root), and the state database held locked by
/// another process.
enum Storage {
    /// The reference trainer's command (as `FaultTests`: the same parameters give the same hashes).
    static func trainer(_ name: String, steps: Int, checkpointDir: String, dir: TemporaryDirectory, every: Int = 20,
                        stall: String = "30s", padding: Int = 0) throws -> String {
        // A long YAML comment makes the submit's write larger than any space a failed write left in SQLite's files.
        let comment = padding > 0 ? "# " + String(repeating: "p", count: padding) + "\n" : ""
        return try dir.write("\(name).yaml", comment + """
            name: \(name)
            command: [ringmaster-train, --preset, micro, --steps, "\(steps)", --batch, "8", --checkpoint-every, "\(every)", --log-every, "0", --print-hash]
            parallelism: {data: 2, pipeline: 2, tensor: 2}
            checkpoint: {every: \(every), keep: 3, dir: \(checkpointDir)}
            failure: {maxRestarts: 4, backoff: 200ms, stallTimeout: \(stall)}
            """)
    }

    /// The step an event's message names first (`step N …`).
    static func step(of e: EventView) -> Int { RestartTests.step(of: e) ?? -1 }

    static func allEvents(_ c: ControllerProcess) async throws -> [EventView] {
        try await c.call { try $0.get("\(APIVersion.prefix)/events?limit=10000", as: [EventView].self) }
    }

    /// Submits the manifest and returns the API's refusal (nil, and an issue recorded, when it was accepted).
    static func refusedSubmit(_ c: ControllerProcess, _ manifest: String) async throws -> ControllerClient.Failure? {
        let text = try String(contentsOfFile: manifest, encoding: .utf8)
        do {
            let job = try await c.call {
                try $0.post("\(APIVersion.prefix)/jobs", body: SubmitRequest(manifest: text, path: manifest), as: JobView.self)
            }
            Issue.record("the submit of \(manifest) was accepted as \(job.id)")
            return nil
        } catch let failure as ControllerClient.Failure {
            return failure
        }
    }

    /// The `store.write-failed` event the controller records once the store can be written again.
    static func outageEvent(_ c: ControllerProcess) async throws -> EventView {
        try await eventually("the outage's store.write-failed event", within: .seconds(60), every: .milliseconds(100)) {
            try await allEvents(c).contains { $0.kind == "store.write-failed" }
        }
        return try #require(try await allEvents(c).first { $0.kind == "store.write-failed" })
    }

    /// The whole log (the harness's `log` reads its first MiB only).
    static func log(_ c: ControllerProcess) -> String { (try? String(contentsOfFile: c.logFile, encoding: .utf8)) ?? "" }

    static func startController(cluster: String, state: String, log: String? = nil) async throws -> ControllerProcess {
        try await ControllerProcess.start(ringmaster: try BuiltProducts.executable("ringmaster"), cluster: cluster,
                                          stateDirectory: state, logLevel: "info", logFile: log)
    }
}

@Suite(.serialized, .timeLimit(.minutes(8)),
       .enabled(if: TestEnvironment.canRunRootTests, Comment(rawValue: TestEnvironment.skipMessage)))
struct FullDiskTests {
    @Test func aFullCheckpointDiskFailsSavesCleanlyAndTheCommittedStepStillResumesBitIdentically() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let c = try await ControllerProcess.start(cluster: try localCluster(dir), stateDirectory: dir.file("state"))
        try await c.waitForReadyNodes(4)
        let expected = try await FaultTests.reference(c, dir, steps: 400)
        try await SmallFilesystem.with(bytes: 16 << 20, name: "ckpt") { fs in
            let job = try await c.submit(try Storage.trainer("full", steps: 400, checkpointDir: fs.path, dir: dir)).id
            _ = try await c.waitForEvent(job: job) { $0.kind == "checkpoint.committed" }
            fs.fill()

            // The next save fails on some rank (or the controller's marker does): the step is not committed, and
            // the event says why and what it means.
            let failed = try await c.waitForEvent(job: job) { $0.kind == "checkpoint.failed" }
            #expect(failed.message.contains("No space left on device"), "\(failed.message)")
            #expect(failed.message.contains("check free space"), "\(failed.message)")
            let failedStep = Storage.step(of: failed)
            let newest = try #require(try await c.detail(job).job.checkpoint)
            #expect(failedStep > newest)
            #expect(failed.message.hasPrefix("step \(failedStep) of \(job) was not committed: "), "\(failed.message)")
            #expect(failed.message.contains("training continues and a failure now resumes from step \(newest)"), "\(failed.message)")
            // Training goes on: the next checkpoint is tried (and fails too).
            _ = try await c.waitForEvent(job: job) { $0.kind == "checkpoint.failed" && Storage.step(of: $0) > failedStep }
            #expect(try await c.detail(job).job.checkpoint == newest)

            // A failure now resumes from the newest committed step; space returns while the job is between attempts.
            try await c.failFrozen(job, rank: 0)
            fs.free()
            let done = try await c.waitForJob(job, within: .seconds(240))
            #expect(done.state == .succeeded, "\(done.reason ?? "")")
            #expect(done.restarts == 1)
            let attempts = try await c.detail(job).attempts
            #expect(attempts.count == 2)
            #expect(attempts.last?.resumeStep == newest)
            #expect(try await FaultTests.hashes(c, job) == expected)

            let events = try await c.events(job: job)
            let detected = try #require(events.first { $0.kind == "failure.detected" })
            let committedBefore = events.filter { $0.kind == "checkpoint.committed" && $0.id < detected.id }.map(Storage.step)
            #expect(committedBefore.allSatisfy { $0 <= newest }, "\(committedBefore)")
            // Once there was room again, steps were committed as usual.
            #expect(events.contains { $0.kind == "checkpoint.committed" && $0.id > detected.id && Storage.step(of: $0) > failedStep })
            // The ranks said so in their output, too.
            let logs = try await c.cli(["logs", job, "--attempt", "1", "--tail", "10000"]).output
            #expect(logs.contains("not saved: cannot write"), "\(logs.suffix(2000))")
            // No partial shard is left behind, and every step left on disk is committed.
            let folder = try #require(done.checkpointDir)
            let steps = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix("step-") }
            #expect(!steps.isEmpty)
            for step in steps {
                let entries = try FileManager.default.contentsOfDirectory(atPath: "\(folder)/\(step)")
                #expect(entries.contains("COMMITTED"), "\(step): \(entries)")
                #expect(!entries.contains { $0.hasPrefix(".") }, "\(step): \(entries)")
            }
            #expect(await c.stop() == 0)
        }
    }

    @Test func aFullStateDiskKeepsServingReadsAndMakesEveryWriteOnceThereIsRoom() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try await SmallFilesystem.with(bytes: 64 << 20, name: "state-fs") { fs in
            let state = StateDirectory(fs.path + "/state")
            // The controller's own log is outside the filesystem that fills (as a service's journal would be).
            let cluster = try localCluster(dir, nodes: 4)
            let c = try await Storage.startController(cluster: cluster, state: state.path, log: dir.file("controller.log"))
            try await c.waitForReadyNodes(4)
            let job = try await c.submit(try Storage.trainer("long", steps: 1_000_000, checkpointDir: dir.file("ckpt"), dir: dir,
                                                             every: 50, stall: "60s")).id
            _ = try await c.waitForEvent(job: job) { $0.kind == "checkpoint.committed" }
            let before = try await Storage.allEvents(c)

            // The WAL is folded into the file, so the next write needs new space; then the disk fills.
            let fixture = try BuiltProducts.executable("ringmaster-fixture")
            try await ChildProcess.run([fixture, "store-truncate-wal", state.database], mergeStderr: true).check()
            fs.fill()
            // The first write that fails starts the outage, whichever write it is (progress, a metric series, an
            // event), and says so in one line.
            try await eventually("the controller to log a failed write", within: .seconds(30), every: .milliseconds(100)) {
                Storage.log(c).split(separator: "\n").contains {
                    $0.contains("cannot write the state database \(state.database): its filesystem is full")
                        && $0.contains("keeps serving reads and holds its writes (in order)")
                }
            }

            // Reads are served, and show everything committed before.
            let jobs = try await c.call { try $0.get("\(APIVersion.prefix)/jobs", as: [JobView].self) }
            #expect(jobs.map(\.id) == [job])
            let during = try await Storage.allEvents(c)
            #expect(Array(during.prefix(before.count)) == before)
            #expect(try await c.call { try $0.get("\(APIVersion.prefix)/nodes", as: [NodeView].self) }.count == 4)
            let metrics = try await c.call { String(decoding: try $0.call("GET", "/metrics"), as: UTF8.self) }
            #expect(metrics.contains("ringmaster_"))
            // The job trains on (its live progress is the controller's, not the store's).
            let stepNow = try await c.detail(job).job.step ?? 0
            try await eventually("the job to keep stepping", within: .seconds(60), every: .milliseconds(100)) {
                (try await c.detail(job).job.step ?? 0) > stepNow
            }
            // A submit is refused, naming the file and saying what to do; nothing is stored.
            let manifest = try Storage.trainer("refused", steps: 10, checkpointDir: dir.file("ckpt"), dir: dir, padding: 300_000)
            let refused = try #require(await Storage.refusedSubmit(c, manifest))
            #expect(refused.status == 507)
            #expect(refused.body.error.contains("cannot write the state database \(state.database): its filesystem is full"))
            #expect(refused.body.hint?.contains("send the request again") == true)

            // Two checkpoints come due meanwhile: neither can be recorded, so neither is committed.
            let later = try await c.detail(job).job.step ?? 0
            try await eventually("two checkpoints to come due", within: .seconds(60), every: .milliseconds(100)) {
                (try await c.detail(job).job.step ?? 0) > later + 100
            }

            // Space returns: the held writes are made, the outage is an event, and the job carries on. (A commit
            // needs the held writes made first: a commit after this point comes after the outage's event.)
            let beforeFree = try await Storage.allEvents(c).last?.id ?? 0
            fs.free()
            _ = try await c.waitForEvent(job: job) { $0.kind == "checkpoint.committed" && $0.id > beforeFree }
            let after = try await Storage.allEvents(c)
            let ended = try #require(after.last { $0.kind == "store.write-failed" })
            #expect(ended.message.hasPrefix("the state database could not be written for "), "\(ended.message)")
            #expect(ended.message.contains("its filesystem is full"), "\(ended.message)")
            #expect(ended.message.contains("waited and w"), "\(ended.message)")
            #expect(ended.payload?.contains(#""cause":"disk-full""#) == true, "\(ended.payload ?? "")")
            #expect(Array(after.prefix(before.count)) == before)
            // The held events were written before the outage's, with the time they happened.
            let held = after.filter { $0.kind == "checkpoint.failed" && $0.id > before.last!.id && $0.id < ended.id }
            #expect(held.count >= 1, "\(after.suffix(20).map(\.message))")
            #expect(held.allSatisfy { $0.time < ended.time && $0.message.contains("the controller could not commit it: cannot "
                + "write the state database \(state.database): its filesystem is full") }, "\(held.map(\.message))")
            #expect(!(try await c.call { try $0.get("\(APIVersion.prefix)/jobs", as: [JobView].self) }).contains { $0.name == "refused" })

            // Everything is in the file: a controller started on it afterwards reads it all back.
            #expect(try await c.cli(["cancel", job]).succeeded)
            #expect(await c.stop() == 0)
            let again = try await Storage.startController(cluster: cluster, state: state.path, log: dir.file("controller.log"))
            let reread = try await Storage.allEvents(again)
            #expect(Array(reread.prefix(after.count)) == after)
            #expect(try await again.detail(job).job.state == .cancelled)
            #expect(await again.stop() == 0)
        }
    }
}

@Suite(.serialized, .timeLimit(.minutes(5))) struct LockedDatabaseTests {
    @Test func aDatabaseLockedByAnotherProcessIsAClearErrorAndTheControllerCarriesOn() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let state = StateDirectory(dir.file("state"))
        try FileManager.default.createDirectory(atPath: state.path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let fixture = try BuiltProducts.executable("ringmaster-fixture")
        let cluster = try localCluster(dir, nodes: 4)

        // At start-up: the controller says which file is locked and what to do, and exits 75 (no crash).
        let holder = try ChildProcess([fixture, "store-locker", state.database])
        #expect(await holder.line { $0 == "locked" } == "locked", "\(holder.standardError)")
        let refused = try await ChildProcess.run(
            [try BuiltProducts.executable("ringmaster"), "controller", "--cluster", cluster, "--state-dir", state.path,
             "--listen", "127.0.0.1:0"], mergeStderr: true)
        #expect(refused.status == 75, "\(refused.output)")
        #expect(refused.output.contains("error: the state database \(state.database) is locked by another process"),
                "\(refused.output)")
        #expect(refused.output.contains("`fuser \(state.database)` names it"))
        holder.signal(SIGKILL)
        _ = await holder.exit()

        // While it runs: writes wait (logged), reads go on, a submit is refused; released, it carries on.
        let c = try await Storage.startController(cluster: cluster, state: state.path)
        try await c.waitForReadyNodes(4)
        let job = try await c.submit(try Storage.trainer("locked", steps: 1_000_000, checkpointDir: dir.file("ckpt"), dir: dir,
                                                         every: 50, stall: "60s")).id
        _ = try await c.waitForEvent(job: job) { $0.kind == "checkpoint.committed" }
        let before = try await Storage.allEvents(c)
        let locker = try ChildProcess([fixture, "store-locker", state.database])
        #expect(await locker.line { $0 == "locked" } == "locked", "\(locker.standardError)")
        try await eventually("the controller to log a write the lock refused", within: .seconds(60), every: .milliseconds(100)) {
            Storage.log(c).contains("the state database \(state.database) is locked by another process")
        }
        #expect(try await Storage.allEvents(c).prefix(before.count) == before[...])
        let manifest = try Storage.trainer("refused", steps: 10, checkpointDir: dir.file("ckpt"), dir: dir)
        let busy = try #require(await Storage.refusedSubmit(c, manifest))
        #expect(busy.status == 503)
        #expect(busy.body.error.contains("\(state.database) is locked by another process"), "\(busy.body.error)")
        locker.signal(SIGKILL)
        _ = await locker.exit()
        let ended = try await Storage.outageEvent(c)
        #expect(ended.payload?.contains(#""cause":"locked""#) == true, "\(ended.payload ?? "")")
        _ = try await c.waitForEvent(job: job) { $0.kind == "checkpoint.committed" && $0.id > ended.id }
        #expect(try await c.detail(job).job.state == .running)
        #expect(try await c.cli(["cancel", job]).succeeded)
        #expect(await c.stop() == 0)
        #expect(!Storage.log(c).contains("Fatal error"))
    }
}
