import ArgumentParser
import Checkpointing
import Foundation

/// `ringmaster checkpoint verify DIR`: verifies every shard of a step folder, or of every step of a job's
/// checkpoint folder, whichever language wrote them (the shard format's `MANIFEST.json` of SHA-256 sums).
struct CheckpointCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint", abstract: "Inspect step checkpoints.", subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify every shard of a step folder (step-N) or of a job's checkpoint folder.",
            discussion: """
                Prints one row per step: whether it is committed (and by which job), its ranks, its bytes and
                the verdict (ok, the first file that does not match its manifest, or the ranks missing). Exit 0
                when every committed step verifies, 1 otherwise, 66 when DIR is not a checkpoint folder.
                """)

        @Argument(help: "A step folder (…/step-N) or a job's checkpoint folder (holding step-N folders).")
        var directory: String

        @Flag(help: "Print the verdicts as JSON.")
        var json = false

        func run() async throws {
            let dir = (directory as NSString).standardizingPath
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
                Output.error("\(dir): no such folder — give a step folder (…/step-N) or a job's checkpoint folder")
                throw ExitCode(66)
            }
            let isStep = (dir as NSString).lastPathComponent.hasPrefix("step-")
            let results = isStep ? [StepVerifier.verify(stepDirectory: dir)] : StepVerifier.verify(checkpointDirectory: dir)
            guard !results.isEmpty else {
                Output.error("\(dir) holds no step-N folders — is it the job's checkpoint folder (`ringmaster status JOB` names it)?")
                throw ExitCode(66)
            }
            if json {
                try Output.json(results.map(Row.init))
            } else {
                print(Output.table(["STEP", "COMMITTED", "RANKS", "BYTES", "VERDICT"], results.map { r in
                    [String(r.step), r.marker.map { $0.job.map { "yes (\($0))" } ?? "yes" } ?? "no", String(r.ranks.count),
                     String(r.bytes), r.verdict.description]
                }))
            }
            if results.contains(where: { $0.committed && !$0.isValid }) || (isStep && !results[0].isValid) { throw ExitCode(1) }
        }
    }

    struct Row: Encodable {
        var step: Int
        var directory: String
        var committed: Bool
        var job: String?
        var worldSize: Int?
        var ranks: [Int]
        var bytes: Int
        var valid: Bool
        var verdict: String

        init(_ r: StepVerification) {
            step = r.step
            directory = r.directory
            committed = r.committed
            job = r.marker?.job
            worldSize = r.marker?.worldSize
            ranks = r.ranks
            bytes = r.bytes
            valid = r.isValid
            verdict = r.verdict.description
        }
    }
}
