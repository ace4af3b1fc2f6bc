import Foundation
import RingmasterModel

/// Reads and validates a job manifest (`Manifests/jobs/*.yaml`).
public enum JobManifestLoader {
    static let topLevel = ["name", "command", "workdir", "env", "parallelism", "resources", "checkpoint",
                           "failure", "warm", "model", "hardware"]

    /// Reads `path` and validates it; every problem in the file is reported together.
    public static func load(path: String) throws(ManifestErrors) -> LoadedManifest<JobSpec> {
        try parse(try ManifestSource.read(path), file: path)
    }

    /// Validates manifest text; `file` names it in errors and anchors relative paths.
    public static func parse(_ text: String, file: String) throws(ManifestErrors) -> LoadedManifest<JobSpec> {
        try ManifestSource.parse(text, file: file, topLevel: topLevel) { JobFields(reader: $0).read($1) }
    }
}

/// The field-by-field reading of a job manifest.
struct JobFields {
    let reader: ManifestReader

    func read(_ root: YAMLMap) -> JobSpec? {
        let name = root.required("name", hint: "name the job, e.g. `name: llama-finetune`")?.string()
        if let name, !Self.isValidName(name), let f = root.field("name") {
            reader.error(at: f.line, "name", "`\(name)` has characters a job name cannot have",
                         hint: "use letters, digits, '.', '_' and '-'")
        }
        let command = readCommand(root.required("command", hint: "give the program every rank runs, e.g. `command: [python3, train.py]`"))
        let workdir = root.field("workdir")?.string().map(reader.absolutePath)
        let env = readEnv(root.field("env"))
        let parallelism = readParallelism(root.field("parallelism"))
        let resources = readResources(root.field("resources"))
        let checkpoint = root.field("checkpoint").flatMap(readCheckpoint)
        let failure = readFailure(root.field("failure"), parallelism: parallelism)
        let warm = root.field("warm").map { WarmFields(reader: reader).read($0, command: command) }
        let model = root.field("model").flatMap { ModelFields(reader: reader).readModel($0, parallelism: parallelism) }
        let hardware = root.field("hardware").flatMap { ModelFields(reader: reader).readHardware($0) }

        guard let name, let command, let parallelism, let resources, let failure, warm != .some(nil) else { return nil }
        return JobSpec(
            name: name, command: command, workdir: workdir, env: env ?? [:], parallelism: parallelism,
            resources: resources, checkpoint: checkpoint, failure: failure, warm: warm ?? nil, model: model,
            hardware: hardware)
    }

    static func isValidName(_ s: String) -> Bool {
        !s.isEmpty && s.count <= 64 && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }

    private func readCommand(_ field: YAMLField?) -> [String]? {
        guard let field else { return nil }
        let emptyHint = "give the program and its arguments, e.g. `command: [python3, train.py]`"
        if case .sequence = field.node {
            guard let items = field.list() else { return nil }
            let argv = items.compactMap { $0.string(nonEmpty: false) }
            guard argv.count == items.count else { return nil }
            if argv.first.map({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) ?? true {
                reader.error(at: field.line, field.path, "empty command", hint: emptyHint)
                return nil
            }
            return argv
        }
        guard let text = field.scalarText(expected: "a string or a list of strings") else { return nil }
        if text.trimmingCharacters(in: .whitespaces).isEmpty {
            reader.error(at: field.line, field.path, "empty command", hint: emptyHint)
            return nil
        }
        // One string is a shell command line, run as `/bin/sh -c`; a list is argv, run as is.
        return ["/bin/sh", "-c", text]
    }

    /// Variables Ringmaster sets itself; a manifest may not override them.
    static let reservedEnvironment: Set<String> = [
        "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "NODE_RANK", "GROUP_RANK", "MASTER_ADDR",
        "MASTER_PORT", "TORCHELASTIC_RESTART_COUNT", "TORCHELASTIC_MAX_RESTARTS", "TORCHELASTIC_RUN_ID",
        "CUDA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES",
    ]

    private func readEnv(_ field: YAMLField?) -> [String: String]? {
        guard let field else { return nil }
        guard case .mapping(let mapping) = field.node else {
            reader.error(at: field.line, field.path, "expected a mapping of NAME: value, got \(YAMLField.kind(of: field.node))")
            return nil
        }
        var env: [String: String] = [:]
        for (key, value) in mapping {
            guard case .scalar(let k) = key else { continue }
            let name = k.string
            let item = YAMLField(reader: reader, path: "env.\(name)", node: value, keyLine: key.mark?.line)
            if !Self.isEnvironmentName(name) {
                reader.error(at: key.mark?.line, item.path, "not a valid environment variable name",
                             hint: "use letters, digits and '_', not starting with a digit")
                continue
            }
            if Self.reservedEnvironment.contains(name) || name.hasPrefix("RINGMASTER_") {
                reader.error(at: key.mark?.line, item.path, "is set by Ringmaster for every rank",
                             hint: "remove it; see the rank environment in README.md")
                continue
            }
            if let v = item.scalarText(expected: "a string") { env[name] = v }
        }
        return env
    }

    static func isEnvironmentName(_ s: String) -> Bool {
        guard let first = s.first, !first.isNumber else { return false }
        return s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    private func readParallelism(_ field: YAMLField?) -> Parallelism? {
        guard let field else { return Parallelism() }
        guard let map = field.map(allowed: ["data", "pipeline", "tensor"]) else { return nil }
        let hint = "a count of 1 or more"
        let data = map.field("data").map { $0.int(min: 1, hint: hint) } ?? 1
        let pipeline = map.field("pipeline").map { $0.int(min: 1, hint: hint) } ?? 1
        let tensor = map.field("tensor").map { $0.int(min: 1, hint: hint) } ?? 1
        guard let data, let pipeline, let tensor else { return nil }
        let (partial, overflowed) = data.multipliedReportingOverflow(by: pipeline)
        let (world, overflowedAgain) = partial.multipliedReportingOverflow(by: tensor)
        guard !overflowed, !overflowedAgain, world <= ManifestLimits.worldSize else {
            reader.error(at: field.line, field.path,
                         "\(data) × \(pipeline) × \(tensor) ranks is more than \(ManifestLimits.worldSize)",
                         hint: "a job has at most \(ManifestLimits.worldSize) ranks")
            return nil
        }
        return Parallelism(data: data, pipeline: pipeline, tensor: tensor)
    }

    private func readResources(_ field: YAMLField?) -> Resources? {
        guard let field else { return Resources() }
        guard let map = field.map(allowed: ["acceleratorsPerRank", "ranksPerNode", "acceleratorKind"]) else { return nil }
        let perRank = map.field("acceleratorsPerRank").map { $0.int(min: 0) } ?? 1
        let perNode = map.field("ranksPerNode").map { $0.int(min: 1, max: ManifestLimits.perNode) }
        let kind = map.field("acceleratorKind")?.string().map { AcceleratorKind(rawValue: $0) }
        guard let perRank, perNode != .some(nil) else { return nil }
        if perRank == 0 && perNode == nil {
            reader.error(at: map.field("acceleratorsPerRank")?.line, "resources.acceleratorsPerRank",
                         "CPU-only ranks (0 accelerators) need a node capacity",
                         hint: "add `resources.ranksPerNode: N`")
            return nil
        }
        return Resources(acceleratorsPerRank: perRank, ranksPerNode: perNode ?? nil, acceleratorKind: kind)
    }

    private func readCheckpoint(_ field: YAMLField) -> CheckpointPolicy? {
        guard let map = field.map(allowed: ["every", "keep", "dir", "async", "resumeFrom"]) else { return nil }
        let every = map.required("every", hint: "checkpoint every N steps, e.g. `every: 50`")?.int(min: 1)
        let keep = map.field("keep").map { $0.int(min: 1, hint: "keep at least the newest step") } ?? 3
        let dir = map.required("dir", hint: "a directory every node and the controller can see")?.string()
            .map(reader.absolutePath)
        let async = map.field("async").map { $0.bool() } ?? true
        let resumeFrom = map.field("resumeFrom").flatMap { f -> String? in
            guard let path = f.string().map(reader.absolutePath) else { return nil }
            guard PathFolder.lastComponent(of: path).hasPrefix("step-"), Int(PathFolder.lastComponent(of: path).dropFirst(5)) != nil else {
                reader.error(at: f.line, f.path, "`\(path)` is not a step folder",
                             hint: "name a committed step of the earlier job, e.g. `<checkpoint.dir>/<job folder>/step-100`")
                return nil
            }
            return path
        }
        if let dir, let problem = Self.creationProblem(dir), let f = map.field("dir") {
            reader.error(at: f.line, f.path, "cannot create `\(dir)`: \(problem)",
                         hint: "choose a writable directory on storage every node sees")
            return nil
        }
        guard let every, let keep, let dir, let async else { return nil }
        return CheckpointPolicy(every: every, keep: keep, dir: dir, async: async, resumeFrom: resumeFrom)
    }

    /// Why `dir` could not be created (or used), or nil when it exists as a writable directory
    /// or its nearest existing ancestor is one. Nothing is created here.
    static func creationProblem(_ dir: String) -> String? {
        var path = dir
        let fm = FileManager.default
        while true {
            var isDir: ObjCBool = false
            if fm.fileExists(atPath: path, isDirectory: &isDir) {
                if !isDir.boolValue {
                    return path == dir ? "it is a file" : "`\(path)` is a file, not a directory"
                }
                return access(path, W_OK | X_OK) == 0 ? nil : "`\(path)` is not writable"
            }
            let parent = PathFolder.of(path)
            if parent == path || parent.isEmpty { return "no existing parent directory" }
            path = parent
        }
    }

    private func readFailure(_ field: YAMLField?, parallelism: Parallelism?) -> FailurePolicy? {
        let defaults = FailurePolicy()
        guard let field else { return defaults }
        guard let map = field.map(allowed: ["maxRestarts", "backoff", "stallTimeout", "quarantineAfter", "minDataParallel"])
        else { return nil }
        let maxRestarts = map.field("maxRestarts").map { $0.int(min: 0) } ?? defaults.maxRestarts
        let backoff = map.field("backoff").map { $0.duration(allowZero: true) } ?? defaults.backoff
        let stall = map.field("stallTimeout").map { $0.stallTimeout() } ?? defaults.stallTimeout
        let quarantine = map.field("quarantineAfter").map { $0.int(min: 1) } ?? defaults.quarantineAfter
        var minData: Int?? = map.field("minDataParallel").map { $0.int(min: 1) }
        if let f = map.field("minDataParallel"), let m = minData ?? nil, let data = parallelism?.data, m > data {
            reader.error(at: f.line, f.path, "is \(m) but parallelism.data is \(data)",
                         hint: "the job may only shrink: use a value from 1 to \(data)")
            minData = .some(nil)
        }
        guard let maxRestarts, let backoff, let stall, let quarantine, minData != .some(nil) else { return nil }
        return FailurePolicy(maxRestarts: maxRestarts, backoff: backoff, stallTimeout: stall,
                             quarantineAfter: quarantine, minDataParallel: minData ?? nil)
    }
}
