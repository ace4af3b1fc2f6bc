import RingmasterModel

/// The `warm:` section of a job manifest: `{preload: [torch], size: N, spares: N, refillAfter: D, rejoin: D}`, for a command that runs a
/// Python script or module.
struct WarmFields {
    let reader: ManifestReader

    static let allowed = ["python", "preload", "size", "spares", "refillAfter", "rejoin"]

    /// nil when the section is wrong (every problem reported); the command is checked too, as it decides
    /// whether a launch can go into a warm interpreter at all.
    func read(_ field: YAMLField, command: [String]?) -> WarmPolicy? {
        guard let map = field.map(allowed: Self.allowed) else { return nil }
        var ok = true
        let split = command.flatMap(PythonCommand.init)
        if command != nil, split == nil {
            reader.error(at: field.line, "warm", "the command is not a Python interpreter running a script or a module",
                         hint: "warm interpreters take `command: [PYTHON, [OPTIONS…], SCRIPT, ARGS…]` or `[PYTHON, -m, MODULE, …]`; remove `warm:` for other commands")
            ok = false
        }
        var python = split?.python
        if let f = map.field("python") {
            let given = f.string()
            if let given, let split, given != split.python {
                reader.error(at: f.line, f.path, "`\(given)` is not the command's interpreter `\(split.python)`",
                             hint: "leave `warm.python` out (it is the command's first word) or make them the same")
                ok = false
            }
            python = given ?? python
            if given == nil { ok = false }
        }
        let preload = map.field("preload").map(readModules) ?? []
        if preload == nil { ok = false }
        let size = map.field("size").map { $0.int(min: 1, max: ManifestLimits.perNode, hint: "interpreters kept per node") }
        let spares = map.field("spares").map { $0.int(min: 0, max: 64, hint: "idle nodes that keep a pool") } ?? 1
        let refill = map.field("refillAfter").map { $0.duration(allowZero: true) } ?? .seconds(5)
        let rejoin = map.field("rejoin").map { $0.duration(allowZero: false) }
        guard ok, let python, let preload, size != .some(nil), let spares, let refill, rejoin != .some(nil) else { return nil }
        return WarmPolicy(python: python, preload: preload, size: size ?? nil, spares: spares, refillAfter: refill,
                          rejoin: rejoin ?? nil)
    }

    /// Dotted module names (`torch`, `ringmaster.torch`).
    private func readModules(_ field: YAMLField) -> [String]? {
        guard let items = field.list() else { return nil }
        var names: [String] = []
        for item in items {
            guard let name = item.string() else { return nil }
            guard Self.isModuleName(name) else {
                reader.error(at: item.line, item.path, "`\(name)` is not a module name",
                             hint: "give importable names such as `torch` or `ringmaster.torch`")
                return nil
            }
            names.append(name)
        }
        return names
    }

    static func isModuleName(_ s: String) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return !parts.isEmpty && s.count <= 200 && parts.allSatisfy { part in
            guard let first = part.first, !first.isNumber else { return false }
            return part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
        }
    }
}
