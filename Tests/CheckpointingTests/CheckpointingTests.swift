@_spi(Testing) import Checkpointing
import Foundation
import RingmasterTestKit
import SystemUtilities
import Testing

func snapshot(step: Int, scale: Float = 1) -> CheckpointSnapshot {
    CheckpointSnapshot(
        step: step,
        blobs: ["layer.0/weight": CheckpointSnapshot.blob((0..<1000).map { Float($0) * scale }),
                "adam m": CheckpointSnapshot.blob([Double](repeating: Double(step), count: 17))],
        dataPosition: UInt64(step * 64), rngState: [UInt64(step), 0xDEAD_BEEF])
}

@Suite struct CheckpointRoundTrip {
    @Test(arguments: [false, true])
    func savesAndLoadsEverythingBitForBit(async: Bool) throws {
        try withTemporaryDirectory { dir in
            let ckpt = Checkpointer(.init(directory: dir, rank: 3, worldSize: 4, async: async, commitLocally: false))
            try ckpt.save(snapshot(step: 10))
            try ckpt.flush()
            let loaded = try ckpt.load(step: 10)
            #expect(loaded == snapshot(step: 10))
            #expect(CheckpointSnapshot.values(loaded.blobs["layer.0/weight"]!, as: Float.self)[999] == 999)
            let files = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/step-10/rank-3").sorted()
            #expect(files == ["MANIFEST.json", "adam%20m.bin", "layer.0%2Fweight.bin"])
            // A multi-rank run leaves COMMITTED to the controller.
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/step-10/COMMITTED"))
            #expect(ckpt.statistics.saves == 1)
        }
    }

    @Test func aFlippedByteIsCorruptAndNamesTheFile() throws {
        try withTemporaryDirectory { dir in
            let ckpt = Checkpointer(.init(directory: dir, rank: 0, worldSize: 2, async: false))
            try ckpt.save(snapshot(step: 5))
            let file = "\(dir)/step-5/rank-0/layer.0%2Fweight.bin"
            var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            bytes[100] ^= 0x01
            try bytes.write(to: URL(fileURLWithPath: file))
            #expect(throws: CheckpointError.corrupt(step: 5, file: file)) { try ckpt.load(step: 5) }
            #expect(CheckpointError.corruptExitCode == 86)
        }
    }

    @Test func aMissingOrTruncatedFileIsCorruptAndAMissingShardIsMissing() throws {
        try withTemporaryDirectory { dir in
            let ckpt = Checkpointer(.init(directory: dir, rank: 1, worldSize: 2, async: false))
            try ckpt.save(snapshot(step: 7))
            let file = "\(dir)/step-7/rank-1/adam%20m.bin"
            try Data(count: 3).write(to: URL(fileURLWithPath: file))
            #expect(throws: CheckpointError.corrupt(step: 7, file: file)) { try ckpt.load(step: 7) }
            try FileManager.default.removeItem(atPath: file)
            #expect(throws: CheckpointError.corrupt(step: 7, file: file)) { try ckpt.load(step: 7) }
            #expect(throws: CheckpointError.missing(step: 8, rank: 1, dir: dir)) { try ckpt.load(step: 8) }
        }
    }

    @Test func savingTheSameStepAgainReplacesTheShard() throws {
        try withTemporaryDirectory { dir in
            let ckpt = Checkpointer(.init(directory: dir, rank: 0, worldSize: 2, async: false))
            try ckpt.save(snapshot(step: 3, scale: 1))
            try ckpt.save(snapshot(step: 3, scale: 2))
            #expect(try ckpt.load(step: 3) == snapshot(step: 3, scale: 2))
            let names = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/step-3")
            #expect(names == ["rank-0"])
        }
    }
}

@Suite struct LocalCommitAndRetention {
    @Test func worldSizeOneCommitsItselfAndKeepsTheNewest() throws {
        try withTemporaryDirectory { dir in
            let ckpt = Checkpointer(.init(directory: dir, rank: 0, worldSize: 1, keep: 2, async: true))
            for step in [10, 20, 30, 40] { try ckpt.save(snapshot(step: step)) }
            try ckpt.flush()
            let layout = CheckpointLayout(directory: dir)
            #expect(layout.committedSteps() == [30, 40])
            #expect(layout.steps() == [30, 40])
            #expect(ckpt.newestCommittedStep() == 40)
        }
    }

    @Test func pruningLeavesStepsNewerThanTheNewestCommit() throws {
        try withTemporaryDirectory { dir in
            let layout = CheckpointLayout(directory: dir)
            for step in [1, 2, 3, 4, 5] {
                let ckpt = Checkpointer(.init(directory: dir, rank: 0, worldSize: 2, async: false))
                try ckpt.save(snapshot(step: step))
            }
            for step in [2, 4] { try CommitMarker.write(layout, step: step, worldSize: 2, at: Date()) }
            let removed = CommitMarker.prune(layout, keep: 1)
            // 1 (uncommitted, older), 2 (committed beyond keep) and 3 (uncommitted, older) go; 5 may be in flight.
            #expect(removed == [1, 2, 3])
            #expect(layout.steps() == [4, 5])
            #expect(layout.committedSteps() == [4])
        }
    }
}

@Suite struct AsyncSaving {
    @Test func saveReturnsWhileTheWriteRunsAndAtMostOneIsInFlight() throws {
        try withTemporaryDirectory { dir in
            let ckpt = Checkpointer(.init(directory: dir, rank: 0, worldSize: 2, async: true))
            let gate = DispatchSemaphore(value: 0)
            let firstFile = Once()
            ckpt.setAfterFileHook { _ in if firstFile.take() { gate.wait() } }
            let waiting = DispatchSemaphore(value: 0)
            ckpt.setBackPressureHook { waiting.signal() }

            try ckpt.save(snapshot(step: 1))  // returns at once; the writer is held after its first file
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/step-1/rank-0"))
            let returned = DispatchSemaphore(value: 0)
            runOnDedicatedThread(name: "second save") {
                try? ckpt.save(snapshot(step: 2))
                returned.signal()
            }
            // The second save waits for the first: back-pressure, never two in flight.
            #expect(waiting.wait(timeout: .now() + 30) == .success)
            #expect(returned.wait(timeout: .now()) == .timedOut)
            gate.signal()
            #expect(returned.wait(timeout: .now() + 30) == .success)
            try ckpt.flush()
            #expect(try ckpt.load(step: 1) == snapshot(step: 1))
            #expect(try ckpt.load(step: 2) == snapshot(step: 2))
            #expect(ckpt.statistics.saves == 2)
        }
    }

    @Test func aWriteErrorSurfacesOnTheNextCall() throws {
        try withTemporaryDirectory { dir in
            let blocker = try writeFile(dir, "file", "x")
            let ckpt = Checkpointer(.init(directory: blocker, rank: 0, worldSize: 2, async: true))
            try ckpt.save(snapshot(step: 1))
            #expect(throws: CheckpointError.self) { try ckpt.flush() }
        }
    }
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct CrashSafety {
    @Test func aProcessKilledMidWriteLeavesNothingThatLooksComplete() async throws {
        try await withTemporaryDirectory { dir in
            let writer = try ChildProcess([try BuiltProducts.executable("ringmaster-fixture"), "checkpoint-writer", dir])
            let line = await writer.line { $0 == "mid-write" }
            #expect(line == "mid-write", "stderr: \(writer.standardError)")
            writer.signal(SIGKILL)
            _ = await writer.exit()

            let layout = CheckpointLayout(directory: dir)
            #expect(layout.committedSteps() == [1])
            #expect(!FileManager.default.fileExists(atPath: layout.rankDirectory(step: 2, rank: 0)))
            let reader = Checkpointer(.init(directory: dir, rank: 0, worldSize: 1, async: false))
            #expect(throws: CheckpointError.missing(step: 2, rank: 0, dir: dir)) { try reader.load(step: 2) }
            #expect(try reader.load(step: 1).dataPosition == 10)
        }
    }
}

/// True exactly once, from any thread.
final class Once: @unchecked Sendable {
    private let lock = NSLock()
    private var taken = false
    func take() -> Bool { lock.withLock { defer { taken = true }; return !taken } }
}
