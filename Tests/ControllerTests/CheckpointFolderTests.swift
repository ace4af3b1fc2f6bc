import Checkpointing
import Controller
import Foundation
import JobManifest
import RingmasterModel
import RingmasterTestKit
import Testing

@Suite struct CheckpointFolderChecks {
    func manifest(_ dir: String, resumeFrom: String? = nil) throws -> LoadedManifest<JobSpec> {
        let extra = resumeFrom.map { "\n  resumeFrom: \($0)" } ?? ""
        return try JobManifestLoader.parse(
            "name: j\ncommand: [train]\nparallelism: {data: 2, tensor: 2}\ncheckpoint:\n  every: 5\n  dir: \(dir)/ckpt\(extra)\n",
            file: "\(dir)/job.yaml")
    }

    @Test func aFolderWithStepsItDidNotWriteIsRefusedNamingTheFolder() throws {
        try withTemporaryDirectory { dir in
            let folder = CheckpointFolder.path(base: "\(dir)/ckpt", identity: "j-1.00000000abcd")
            #expect(CheckpointFolder.submitProblems(try manifest(dir), identity: "j-1.00000000abcd").isEmpty)
            try FileManager.default.createDirectory(atPath: "\(folder)/step-15", withIntermediateDirectories: true)
            let problems = CheckpointFolder.submitProblems(try manifest(dir), identity: "j-1.00000000abcd").map(\.description)
            #expect(problems == ["\(dir)/job.yaml:6: checkpoint.dir: the job's checkpoint folder \(folder) already holds steps 15 that it did not write — move that folder aside, or continue from one of its steps with `checkpoint.resumeFrom: \(folder)/step-15`"])
        }
    }

    @Test func resumeFromMustBeACommittedVerifiedStepOfTheSameTensorAndPipelineLayout() throws {
        try withTemporaryDirectory { dir in
            let source = "\(dir)/earlier"
            let layout = CheckpointLayout(directory: source)
            for rank in 0..<3 {
                let c = Checkpointer(.init(directory: source, rank: rank, worldSize: 3, async: false, commitLocally: false))
                try c.save(CheckpointSnapshot(step: 10, blobs: ["w": Data([1, 2, 3])], dataPosition: 0, rngState: []))
            }
            func problem(_ path: String) throws -> String? {
                CheckpointFolder.submitProblems(try manifest(dir, resumeFrom: path), identity: "j-1.0000000000aa").first?.description
            }
            #expect(try problem("\(source)/step-10")?.contains("checkpoint.resumeFrom: \(source)/step-10 is not committed") == true)
            try CommitMarker.write(layout, step: 10, worldSize: 3, job: "earlier-1.0000000000bb", at: Date())
            // 3 ranks cannot be regrouped into tensor 2 × pipeline 1.
            #expect(try problem("\(source)/step-10")?.contains("written by 3 ranks, which is not a multiple of tensor × pipeline = 2") == true)
            #expect(try problem("\(source)/step-11")?.contains("does not exist") == true)
            #expect(throws: ManifestErrors.self) { try manifest(dir, resumeFrom: "\(source)/latest") }
        }
    }
}
