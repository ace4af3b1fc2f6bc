/// One problem in a manifest, printed as `FILE:LINE: field.path: what is wrong — hint`.
public struct ManifestError: Error, Hashable, Sendable, CustomStringConvertible {
    public var file: String
    /// 1-based line, when the problem has a place in the file.
    public var line: Int?
    /// Dotted field path, e.g. `parallelism.tensor` or `nodes[2].host`; empty for the whole file.
    public var field: String
    public var message: String
    public var hint: String?

    public init(file: String, line: Int?, field: String, message: String, hint: String? = nil) {
        self.file = file
        self.line = line
        self.field = field
        self.message = message
        self.hint = hint
    }

    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        s += ": "
        if !field.isEmpty { s += "\(field): " }
        s += message
        if let hint { s += " — \(hint)" }
        return s
    }
}

/// Every problem found in one or more manifests, reported together, ordered by file and line.
public struct ManifestErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [ManifestError]

    public init(_ errors: [ManifestError]) {
        self.errors = errors.sorted { ($0.file, $0.line ?? 0) < ($1.file, $1.line ?? 0) }
    }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
