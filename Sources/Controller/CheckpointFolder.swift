import Checkpointing
import Foundation
import JobManifest
import RingmasterModel
import StateStore

/// A job's own checkpoint folder, `<checkpoint.dir>/<job identity>`, and what the controller checks and
/// does there besides committing: the submit-time refusals, the resume-step filter, and the import of an
/// earlier job's step (`checkpoint.resumeFrom`).
///
/// The identity (`<id>.<uid>`) is unique across controllers and state directories, so two jobs never
/// share a folder; and the controller prunes and resumes only steps its store recorded for the job.
public enum CheckpointFolder {
    public static func path(base: String, identity: String) -> String { "\(base)/\(identity)" }

    public static func layout(of job: JobRecord) -> CheckpointLayout? {
        job.spec.checkpoint.map { CheckpointLayout(directory: path(base: $0.dir, identity: job.identity)) }
    }

    /// Why a job about to be submitted with `identity` must be refused: its folder already holds steps
    /// (another program's, never to be mixed with its own), or its `resumeFrom` step is not a committed,
    /// verified step of a compatible layout. Each problem points at the manifest's field.
    public static func submitProblems(_ manifest: LoadedManifest<JobSpec>, identity: String) -> [ManifestError] {
        guard let policy = manifest.value.checkpoint else { return [] }
        var problems: [ManifestError] = []
        let folder = path(base: policy.dir, identity: identity)
        let foreign = CheckpointLayout(directory: folder).steps()
        if !foreign.isEmpty {
            problems.append(manifest.error(
                field: "checkpoint.dir",
                message: "the job's checkpoint folder \(folder) already holds steps \(foreign.map(String.init).joined(separator: ", ")) that it did not write",
                hint: "move that folder aside, or continue from one of its steps with `checkpoint.resumeFrom: \(folder)/step-\(foreign.last!)`"))
        }
        if let source = policy.resumeFrom, let problem = resumeProblem(source, spec: manifest.value) {
            problems.append(manifest.error(field: "checkpoint.resumeFrom", message: problem.message, hint: problem.hint))
        }
        return problems
    }

    /// Why `source` (a `step-N` folder) cannot be continued from by a job of `spec`; nil when it can.
    static func resumeProblem(_ source: String, spec: JobSpec) -> (message: String, hint: String)? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory), isDirectory.boolValue else {
            return ("\(source) does not exist", "name a committed step folder of the earlier job")
        }
        let check = StepVerifier.verify(stepDirectory: source)
        guard let marker = check.marker else {
            return ("\(source) is not committed (no COMMITTED marker): some rank never finished writing it",
                    "continue from an older committed step of that job (`ringmaster checkpoint verify \(PathFolder.of(source))` lists them)")
        }
        guard check.isValid else {
            return ("\(source) does not verify: \(check.verdict)", "continue from an older committed step of that job")
        }
        let p = spec.parallelism
        let group = p.tensor * p.pipeline
        guard marker.worldSize % group == 0 else {
            return ("\(source) was written by \(marker.worldSize) ranks, which is not a multiple of tensor × pipeline = \(group)",
                    "keep the earlier job's tensor and pipeline parallelism; only data parallelism may change")
        }
        return nil
    }

    /// Whether a resume may use `step` of `job`: its `COMMITTED` marker is on disk and names this job.
    /// A marker naming another job is reported through `foreign`.
    static func markerProblem(_ layout: CheckpointLayout, step: Int, job: JobRecord) -> String? {
        guard let marker = CommitMarker.read(layout, step: step) else {
            return "its COMMITTED marker is missing from \(layout.stepDirectory(step))"
        }
        if let writer = marker.job, writer != job.identity {
            return "its COMMITTED marker names job \(writer), not \(job.identity): refusing another job's step"
        }
        if marker.job == nil, !job.uid.isEmpty {
            return "its COMMITTED marker names no job, so \(job.identity) did not write it"
        }
        return nil
    }

    /// Copies the `resumeFrom` step into the job's own folder (hard links where the filesystem allows,
    /// else copies) and commits it there under the job's identity. Returns the step. Idempotent: a step
    /// already imported (its marker names this job) is reused.
    static func importStep(from source: String, into layout: CheckpointLayout, job: JobRecord, at now: Date) throws -> Int {
        let name = PathFolder.lastComponent(of: source)
        guard name.hasPrefix("step-"), let step = Int(name.dropFirst(5)) else {
            throw ImportError(message: "\(source) is not a step folder")
        }
        if markerProblem(layout, step: step, job: job) == nil { return step }
        let check = StepVerifier.verify(stepDirectory: source)
        guard let marker = check.marker, check.isValid else {
            throw ImportError(message: "\(source) no longer verifies: \(check.verdict)")
        }
        let fm = FileManager.default
        let target = layout.stepDirectory(step)
        let partial = "\(layout.directory)/.import-step-\(step)-\(UUID().uuidString.prefix(8))"
        try fm.createDirectory(atPath: partial, withIntermediateDirectories: true)
        for rank in check.ranks {
            let from = "\(source)/rank-\(rank)", to = "\(partial)/rank-\(rank)"
            try fm.createDirectory(atPath: to, withIntermediateDirectories: false)
            for file in try fm.contentsOfDirectory(atPath: from) {
                if link("\(from)/\(file)", "\(to)/\(file)") != 0 { try fm.copyItem(atPath: "\(from)/\(file)", toPath: "\(to)/\(file)") }
            }
        }
        if fm.fileExists(atPath: target) { try fm.removeItem(atPath: target) }
        guard rename(partial, target) == 0 else { throw ImportError(message: "cannot move the imported step into \(target)") }
        try CommitMarker.write(layout, step: step, worldSize: marker.worldSize, job: job.identity, at: now)
        return step
    }

    struct ImportError: Error, CustomStringConvertible {
        var message: String
        var description: String { "checkpoint.resumeFrom: \(message)" }
    }
}

#if canImport(Glibc)
import Glibc
#endif
