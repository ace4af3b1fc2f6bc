@_spi(Testing) import Checkpointing
import Foundation
import RingmasterTestKit
import Testing

@Suite struct StepVerification_ {
    /// Two ranks' shards of `step` in `dir`, committed when `commit` is set.
    func writeStep(_ dir: String, step: Int, commit: Bool, job: String? = "job-1.0123456789ab") throws {
        for rank in 0..<2 {
            let ckpt = Checkpointer(.init(directory: dir, rank: rank, worldSize: 2, async: false, commitLocally: false))
            try ckpt.save(snapshot(step: step))
        }
        if commit { try CommitMarker.write(CheckpointLayout(directory: dir), step: step, worldSize: 2, job: job, at: Date()) }
    }

    @Test func aCompleteCommittedStepVerifiesWithItsMarker() throws {
        try withTemporaryDirectory { dir in
            try writeStep(dir, step: 20, commit: true)
            let v = StepVerifier.verify(stepDirectory: "\(dir)/step-20")
            #expect(v.isValid && v.committed)
            #expect(v.ranks == [0, 1])
            #expect(v.bytes == 2 * snapshot(step: 20).byteCount)
            #expect(v.marker?.job == "job-1.0123456789ab" && v.marker?.worldSize == 2)
        }
    }

    @Test func aFlippedByteAMissingShardAndAMissingFileAreNamed() throws {
        try withTemporaryDirectory { dir in
            try writeStep(dir, step: 5, commit: true)
            let file = "\(dir)/step-5/rank-1/adam%20m.bin"
            let h = try #require(FileHandle(forUpdatingAtPath: file))
            try h.seek(toOffset: 3)
            try h.write(contentsOf: Data([0xFF]))
            try h.close()
            #expect(StepVerifier.verify(stepDirectory: "\(dir)/step-5").verdict
                == .corrupt(file: file, why: "SHA-256 differs from the manifest"))
            try FileManager.default.removeItem(atPath: "\(dir)/step-5/rank-1")
            #expect(StepVerifier.verify(stepDirectory: "\(dir)/step-5").verdict == .missingRanks([1]))
            try writeStep(dir, step: 6, commit: false)
            try FileManager.default.removeItem(atPath: "\(dir)/step-6/rank-0/MANIFEST.json")
            let v = StepVerifier.verify(stepDirectory: "\(dir)/step-6")
            #expect(!v.committed)
            #expect(v.verdict == .corrupt(file: "\(dir)/step-6/rank-0/MANIFEST.json", why: "missing"))
            #expect(StepVerifier.verify(checkpointDirectory: dir).map(\.step) == [5, 6])
        }
    }
}

@Suite struct ControllerPruning {
    @Test func onlyStepsTheStoreRecordedOrThisAttemptWroteArePruned() throws {
        try withTemporaryDirectory { dir in
            let layout = CheckpointLayout(directory: dir)
            // Steps 10…60 on disk, all with COMMITTED markers (another run's, say), 70 half written.
            for step in [10, 20, 30, 40, 50, 60, 70] {
                let ckpt = Checkpointer(.init(directory: dir, rank: 0, worldSize: 1, async: false, commitLocally: false))
                try ckpt.save(snapshot(step: step))
                if step < 70 { try CommitMarker.write(layout, step: step, worldSize: 1, at: Date()) }
            }
            // The store knows 30, 40 and 50 as this job's; this attempt wrote part of 45 and of 70.
            let removed = CommitMarker.prune(layout, keep: 2, committed: [30, 40, 50], written: [45, 70])
            #expect(removed == [30])
            #expect(layout.steps() == [10, 20, 40, 50, 60, 70])
            // A partial step of this attempt older than the newest commit goes once it is on disk.
            let ckpt = Checkpointer(.init(directory: dir, rank: 0, worldSize: 1, async: false, commitLocally: false))
            try ckpt.save(snapshot(step: 45))
            #expect(CommitMarker.prune(layout, keep: 2, committed: [40, 50], written: [45, 70]) == [45])
            #expect(CommitMarker.prune(layout, keep: 2, committed: [], written: [10]) == [])
        }
    }
}
