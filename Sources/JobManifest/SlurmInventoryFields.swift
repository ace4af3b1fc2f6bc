import RingmasterModel

/// The `slurm:` section of a cluster inventory.
struct SlurmInventoryFields {
    let reader: ManifestReader

    static let keys = ["nodes", "spares", "partition", "time", "account", "constraint", "gresPerNode", "accelerators",
                       "acceleratorKind", "extraArgs", "warning", "existingAllocation"]
    /// sbatch options the controller sets itself: an `extraArgs` element naming one is refused.
    static let reserved = ["--nodes", "-N", "--ntasks-per-node", "--exclusive", "--no-kill", "-k", "--signal", "--parsable",
                           "--job-name", "-J", "--output", "-o", "--exclude", "-x", "--partition", "-p", "--time", "-t",
                           "--account", "-A", "--constraint", "-C", "--gres", "--wrap"]

    func read(_ field: YAMLField) -> SlurmSettings? {
        guard let map = field.map(allowed: Self.keys) else { return nil }
        let nodes = map.required("nodes", hint: "how many Slurm nodes jobs run on, e.g. `nodes: 4`")?
            .int(min: 1, max: ManifestLimits.slurmNodes)
        let spares = map.field("spares").map {
            $0.int(min: 0, max: ManifestLimits.slurmNodes, hint: "extra nodes held for recovery, e.g. `spares: 1`")
        } ?? 0
        let partition = map.field("partition").map { $0.string() } ?? .some(nil)
        let time = readTime(map.field("time"))
        let account = map.field("account").map { $0.string() } ?? .some(nil)
        let constraint = map.field("constraint").map { $0.string() } ?? .some(nil)
        let gres = readGres(map.field("gresPerNode"))
        let accelerators = map.field("accelerators").map {
            $0.int(min: 0, max: ManifestLimits.perNode, hint: "simulated accelerators per node (test clusters)")
        } ?? 0
        let kind = map.field("acceleratorKind")?.string().map { AcceleratorKind(rawValue: $0) } ?? .simulated
        let extra = readExtraArgs(map.field("extraArgs"))
        let warning = map.field("warning").map { $0.duration() } ?? .seconds(300)
        let existing = map.field("existingAllocation").map { $0.bool() } ?? false
        guard let nodes, let spares, let partition, let time, let account, let constraint, let gres, let accelerators,
              let extra, let warning, let existing else { return nil }
        let warningSeconds = max(1, Int(warning.seconds.rounded(.up)))
        if let limit = time.flatMap(SlurmTimeLimit.seconds), limit <= warningSeconds {
            reader.error(at: map.field("warning")?.line ?? map.field("time")?.line, "\(field.path).warning",
                         "the time-limit warning (\(warningSeconds) s) is not shorter than the time limit (\(limit) s)",
                         hint: "a shorter `warning:` (the checkpoint needs that long at most), or a longer `time:`")
            return nil
        }
        return SlurmSettings(nodes: nodes, spares: spares, partition: partition, time: time, account: account,
                             constraint: constraint, gresPerNode: gres, accelerators: accelerators, acceleratorKind: kind,
                             extraArgs: extra, warningSeconds: warningSeconds, existingAllocation: existing)
    }

    private func readTime(_ field: YAMLField?) -> String?? {
        guard let field else { return .some(nil) }
        guard let text = field.string() else { return nil }
        guard SlurmTimeLimit.seconds(text) != nil || SlurmTimeLimit.isUnlimited(text) else {
            reader.error(at: field.line, field.path, "`\(text)` is not a Slurm time limit",
                         hint: "minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS (e.g. `2:00:00`), or UNLIMITED")
            return nil
        }
        return .some(text)
    }

    /// `gpu:8`, `gpu:a100:8`: a name, an optional type, a count of at least 1.
    private func readGres(_ field: YAMLField?) -> String?? {
        guard let field else { return .some(nil) }
        guard let text = field.string() else { return nil }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let wellFormed = (2...3).contains(parts.count) && parts.dropLast().allSatisfy { part in
            !part.isEmpty && part.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == "." }
        } && (1...ManifestLimits.perNode).contains(Int(parts.last!) ?? 0)
        guard wellFormed else {
            reader.error(at: field.line, field.path, "`\(text)` is not a generic resource per node",
                         hint: "NAME:COUNT or NAME:TYPE:COUNT with a count from 1 to \(ManifestLimits.perNode), e.g. `gpu:8` or `gpu:a100:8`")
            return nil
        }
        return .some(text)
    }

    /// A list of strings, each one argv element of sbatch.
    private func readExtraArgs(_ field: YAMLField?) -> [String]? {
        guard let field else { return [] }
        guard let items = field.list() else { return nil }
        var args: [String] = []
        var ok = true
        for item in items {
            guard let arg = item.string() else { ok = false; continue }
            let option = String(arg.split(separator: "=", maxSplits: 1).first ?? "")
            if Self.reserved.contains(option) {
                reader.error(at: item.line, item.path, "`\(option)` is set by the controller",
                             hint: "use the inventory's own fields (nodes, spares, partition, time, account, constraint, gresPerNode)")
                ok = false
            } else if arg.contains("\n") {
                reader.error(at: item.line, item.path, "an argument must be one line", hint: "one list element per argument")
                ok = false
            } else {
                args.append(arg)
            }
        }
        return ok ? args : nil
    }
}
