@_spi(Testing) import Checkpointing
import Foundation
import RingmasterTestKit
import Synchronization
import SystemUtilities
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The failures handed to `onFailedSave`, for the tests.
final class FailedSaves: Sendable {
    private let list = Mutex<[(Int, CheckpointError)]>([])
    func add(_ step: Int, _ error: CheckpointError) { list.withLock { $0.append((step, error)) } }
    var steps: [Int] { list.withLock { $0.map(\.0) } }
    var errors: [CheckpointError] { list.withLock { $0.map(\.1) } }
}

/// A save that cannot be written (issue 14, storage faults): `reportAndContinue` drops it cleanly, says so,
/// and leaves every committed step as it was.
@Suite struct FailedSaveReports {
    @Test(arguments: [false, true])
    func aSaveThatCannotBeWrittenIsReportedAndTrainingGoesOn(async: Bool) throws {
        try withTemporaryDirectory { dir in
            let listener = DatagramListener(path: "\(dir)/control.sock")
            let reporter = try RankReporter(path: listener.path)
            // A file where the checkpoint folder should be: every save fails (ENOTDIR), as root too.
            let blocker = try writeFile(dir, "ckpt", "not a folder")
            let failures = FailedSaves()
            let ckpt = Checkpointer(.init(directory: blocker, rank: 1, worldSize: 2, async: async, reporter: reporter,
                                          onWriteFailure: .reportAndContinue, onFailedSave: failures.add))
            try ckpt.save(snapshot(step: 5))
            try ckpt.save(snapshot(step: 10))
            try ckpt.flush()
            #expect(failures.steps == [5, 10])
            #expect(ckpt.statistics.failedSaves == 2 && ckpt.statistics.lastFailedStep == 10 && ckpt.statistics.saves == 0)
            let first = try #require(listener.receive())
            #expect(first.hasPrefix("checkpoint-failed 5 cannot write \(blocker): Not a directory — check free space"), "\(first)")
            #expect(listener.receive()?.hasPrefix("checkpoint-failed 10 ") == true)
            #expect(failures.errors.first == .writeFailed(path: blocker, errno: ENOTDIR))
        }
    }

    @Test func theDefaultStillThrows() throws {
        try withTemporaryDirectory { dir in
            let blocker = try writeFile(dir, "ckpt", "x")
            let ckpt = Checkpointer(.init(directory: blocker, rank: 0, worldSize: 2, async: false))
            #expect(throws: CheckpointError.writeFailed(path: blocker, errno: ENOTDIR)) { try ckpt.save(snapshot(step: 1)) }
        }
    }

    @Test func aFailedLineFitsOneDatagramOnOneLine() {
        let line = RankReporter.checkpointFailedLine(7, "first\nsecond\t" + String(repeating: "x", count: 5000))
        #expect(line.hasPrefix("checkpoint-failed 7 first second "))
        #expect(!line.contains("\n") && line.utf8.count <= 2048)
        #expect(RankReporter.checkpointFailedLine(3, " \n") == "checkpoint-failed 3 no reason given")
    }
}

/// The checkpoint folder on a full filesystem (a small tmpfs; root only, a failure on CI when not root).
@Suite(.serialized, .timeLimit(.minutes(2)),
       .enabled(if: TestEnvironment.canRunRootTests, Comment(rawValue: TestEnvironment.skipMessage)))
struct FullCheckpointDisk {
    /// 256 KiB of floats per blob: two blobs per shard.
    static func big(step: Int) -> CheckpointSnapshot {
        let blob = CheckpointSnapshot.blob([Float](repeating: Float(step), count: 64 << 10))
        return CheckpointSnapshot(step: step, blobs: ["a": blob, "b": blob], dataPosition: UInt64(step), rngState: [7])
    }

    @Test(arguments: [false, true])
    func aFullDiskFailsTheSaveCleanlyAndTheCommittedStepStillLoads(async: Bool) async throws {
        try await SmallFilesystem.with(bytes: 2 << 20) { fs in
            let dir = "\(fs.path)/ckpt"
            let failures = FailedSaves()
            // A world-size-1 run without a controller commits its own steps.
            let ckpt = Checkpointer(.init(directory: dir, rank: 0, worldSize: 1, keep: 3, async: async,
                                          onWriteFailure: .reportAndContinue, onFailedSave: failures.add))
            try ckpt.save(Self.big(step: 1))
            try ckpt.flush()
            #expect(ckpt.newestCommittedStep() == 1)
            fs.fill()
            let full = fs.freeBytes
            try ckpt.save(Self.big(step: 2))
            try ckpt.flush()
            #expect(failures.steps == [2])
            guard case .writeFailed(let path, let code)? = failures.errors.first else {
                Issue.record("no write failure: \(failures.errors)")
                return
            }
            #expect(code == ENOSPC && path.hasPrefix("\(dir)/step-2/"), "\(path) errno \(code)")
            #expect("\(failures.errors[0])".contains("No space left on device — check free space and permissions"))
            // Nothing of step 2 is left (its partial folder and its empty step folder are gone) and nothing
            // looks committed; the space it took is free again.
            #expect(CheckpointLayout(directory: dir).steps() == [1])
            #expect(fs.freeBytes >= full)
            // Step 1 is still committed and loads bit for bit.
            #expect(ckpt.newestCommittedStep() == 1)
            #expect(try ckpt.load(step: 1) == Self.big(step: 1))
            #expect(StepVerifier.verify(stepDirectory: "\(dir)/step-1").isValid)
            // Space returns: the next save is committed as usual.
            fs.free()
            try ckpt.save(Self.big(step: 3))
            try ckpt.flush()
            #expect(ckpt.newestCommittedStep() == 3)
            #expect(try ckpt.load(step: 3) == Self.big(step: 3))
            #expect(ckpt.statistics.failedSaves == 1 && ckpt.statistics.saves == 2)
        }
    }

    @Test func aMarkerThatCannotBeWrittenLeavesTheStepUncommitted() async throws {
        try await SmallFilesystem.with(bytes: 1 << 20) { fs in
            let layout = CheckpointLayout(directory: "\(fs.path)/ckpt")
            let ckpt = Checkpointer(.init(directory: layout.directory, rank: 0, worldSize: 1, async: false, commitLocally: false))
            try ckpt.save(snapshot(step: 4))
            fs.fill()
            #expect(throws: CheckpointError.self) { try CommitMarker.write(layout, step: 4, worldSize: 1, at: Date()) }
            #expect(layout.committedSteps().isEmpty)
            #expect(!FileManager.default.fileExists(atPath: layout.commitMarker(4) + ".tmp"))
            fs.free()
            try CommitMarker.write(layout, step: 4, worldSize: 1, at: Date())
            #expect(layout.committedSteps() == [4])
        }
    }
}
