import Foundation
import RingmasterModel
import Yams

/// Reads a composed YAML tree into typed values, collecting every problem with its line
/// instead of stopping at the first.
final class ManifestReader {
    let file: String
    /// Folder relative paths resolve against.
    let baseDirectory: String
    private(set) var errors: [ManifestError] = []
    /// Line of every field read, so later checks (placement, capacity) can point at it.
    private(set) var lines: [String: Int] = [:]

    init(file: String) {
        self.file = file
        self.baseDirectory = PathFolder.of(file)
    }

    func error(at line: Int?, _ field: String, _ message: String, hint: String? = nil) {
        errors.append(ManifestError(file: file, line: line, field: field, message: message, hint: hint))
    }

    func record(_ field: String, line: Int?) {
        if let line { lines[field] = line }
    }

    /// Parses the text; YAML syntax errors become one error with their line.
    func compose(_ text: String) -> Node? {
        do {
            guard let node = try Yams.compose(yaml: text) else {
                error(at: 1, "", "the file is empty", hint: "see the manifest reference in README.md")
                return nil
            }
            return node
        } catch let yaml as YamlError {
            let (line, problem) = Self.describe(yaml)
            error(at: line, "", "not valid YAML: \(problem)", hint: "check indentation and quoting near this line")
            return nil
        } catch {
            self.error(at: nil, "", "not valid YAML: \(error)")
            return nil
        }
    }

    private static func describe(_ error: YamlError) -> (Int?, String) {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return (mark.line, problem)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return (context.mark.line, "duplicate key \(duplicates.joined(separator: ", "))")
        case .reader(let problem, _, _, _):
            return (nil, problem)
        default:
            return (nil, "\(error)")
        }
    }

    /// Resolves `~` and paths relative to the manifest's folder.
    func absolutePath(_ path: String) -> String {
        var p = path
        if p == "~" || p.hasPrefix("~/") {
            let home = ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
            p = home + p.dropFirst()
        }
        if !p.hasPrefix("/") {
            p = (baseDirectory.isEmpty ? FileManager.default.currentDirectoryPath : baseDirectory) + "/" + p
        }
        return (p as NSString).standardizingPath
    }
}

/// A YAML mapping whose keys are checked against the fields it may have.
struct YAMLMap {
    let reader: ManifestReader
    let path: String
    let line: Int?
    private let entries: [String: (keyLine: Int?, value: Node)]

    init?(_ node: Node, path: String, reader: ManifestReader, allowed: [String]) {
        self.reader = reader
        self.path = path
        self.line = node.mark?.line
        guard case .mapping(let mapping) = node else {
            reader.error(at: node.mark?.line, path, "expected a mapping of fields, got \(YAMLField.kind(of: node))",
                         hint: "fields: " + allowed.joined(separator: ", "))
            return nil
        }
        var entries: [String: (Int?, Node)] = [:]
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                reader.error(at: key.mark?.line, path, "keys must be plain names")
                continue
            }
            let name = scalar.string
            let fieldPath = path.isEmpty ? name : "\(path).\(name)"
            if !allowed.contains(name) {
                reader.error(at: key.mark?.line, fieldPath, "unknown field",
                             hint: Suggestion.hint(for: name, among: allowed))
                continue
            }
            entries[name] = (key.mark?.line, value)
        }
        self.entries = entries
    }

    func has(_ key: String) -> Bool { entries[key] != nil }

    /// The field, if present (a `null` value counts as absent for optional fields).
    func field(_ key: String) -> YAMLField? {
        guard let entry = entries[key] else { return nil }
        let f = YAMLField(reader: reader, path: childPath(key), node: entry.value, keyLine: entry.keyLine)
        reader.record(f.path, line: entry.keyLine ?? f.line)
        if f.isNull { return nil }
        return f
    }

    /// The field, reporting it as missing (at this mapping's line) when absent.
    func required(_ key: String, hint: String) -> YAMLField? {
        if let f = field(key) { return f }
        let what = entries[key] == nil ? "missing required field" : "required field has no value"
        reader.error(at: entries[key]?.keyLine ?? line, childPath(key), what, hint: hint)
        return nil
    }

    func childPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
}

/// One YAML value with its field path, converted on demand with a typed error on mismatch.
struct YAMLField {
    let reader: ManifestReader
    let path: String
    let node: Node
    let keyLine: Int?

    var line: Int? { node.mark?.line ?? keyLine }

    var isNull: Bool {
        guard case .scalar(let s) = node, s.style == .plain else { return false }
        return s.string.isEmpty || s.string == "~" || s.string.lowercased() == "null"
    }

    static func kind(of node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let s): return "`\(s.string)`"
        }
    }

    func fail(_ message: String, hint: String? = nil) {
        reader.error(at: line, path, message, hint: hint)
    }

    /// The scalar text, or nil (with an error) for a mapping or list.
    func scalarText(expected: String) -> String? {
        guard case .scalar(let s) = node else {
            fail("expected \(expected), got \(Self.kind(of: node))")
            return nil
        }
        return s.string
    }

    func string(nonEmpty: Bool = true) -> String? {
        guard let s = scalarText(expected: "a string") else { return nil }
        if nonEmpty && s.trimmingCharacters(in: .whitespaces).isEmpty {
            fail("must not be empty")
            return nil
        }
        return s
    }

    func int(min: Int? = nil, max: Int? = nil, hint: String? = nil) -> Int? {
        guard let s = scalarText(expected: "an integer") else { return nil }
        guard let v = Int(s.replacingOccurrences(of: "_", with: "")) else {
            fail("expected an integer, got `\(s)`", hint: hint)
            return nil
        }
        return bounded(v, min: min, max: max, hint: hint)
    }

    func bool() -> Bool? {
        guard let s = scalarText(expected: "true or false") else { return nil }
        switch s.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            fail("expected true or false, got `\(s)`")
            return nil
        }
    }

    /// A number, with K/M/B/T suffixes when `suffixes` is set.
    func number(suffixes: Bool = false, greaterThan floor: Double? = nil, atMost ceiling: Double? = nil,
                hint: String? = nil) -> Double? {
        guard let s = scalarText(expected: "a number") else { return nil }
        guard let v = suffixes ? Quantities.count(s) : Quantities.plainNumber(s) else {
            fail("expected a number, got `\(s)`",
                 hint: hint ?? (suffixes ? "write e.g. 175e9 or 175B (K, M, B, T are powers of 1000)" : nil))
            return nil
        }
        if let floor, v <= floor {
            fail("must be greater than \(Self.format(floor)), got \(s)", hint: hint)
            return nil
        }
        if let ceiling, v > ceiling {
            fail("must be at most \(Self.format(ceiling)), got \(s)", hint: hint)
            return nil
        }
        return v
    }

    func bytes() -> Double? {
        guard let s = scalarText(expected: "a size") else { return nil }
        guard let v = Quantities.bytes(s), v > 0 else {
            fail("expected a positive size, got `\(s)`", hint: "write e.g. 80GiB, 141GB or 512MiB")
            return nil
        }
        return v
    }

    func duration(allowZero: Bool = false) -> Duration? {
        guard let s = scalarText(expected: "a duration") else { return nil }
        let text = s.trimmingCharacters(in: .whitespaces)
        guard Quantities.seconds(text) != nil else {
            fail("malformed duration `\(s)`", hint: "write a number and a unit: 500ms, 30s, 5m or 2h")
            return nil
        }
        guard let d = Quantities.duration(text) else {
            fail("must be at most \(Quantities.maxDurationSeconds / 3600)h (about 114 years), got `\(s)`")
            return nil
        }
        if !allowZero && d == .zero {
            fail("must be longer than zero", hint: "write e.g. 500ms or 30s")
            return nil
        }
        return d
    }

    /// `auto`, or a duration longer than zero.
    func stallTimeout() -> StallTimeout? {
        if case .scalar(let scalar) = node, scalar.string.trimmingCharacters(in: .whitespaces) == "auto" { return .auto }
        return duration().map { .fixed($0) }
    }

    func oneOf<E: RawRepresentable & CaseIterable>(_: E.Type) -> E? where E.RawValue == String {
        guard let s = scalarText(expected: "a name") else { return nil }
        if let v = E(rawValue: s) { return v }
        let names = E.allCases.map(\.rawValue)
        fail("`\(s)` is not one of \(names.joined(separator: ", "))", hint: Suggestion.hint(for: s, among: names))
        return nil
    }

    func map(allowed: [String]) -> YAMLMap? {
        YAMLMap(node, path: path, reader: reader, allowed: allowed)
    }

    /// Elements of a list, each with its `path[i]`.
    func list() -> [YAMLField]? {
        guard case .sequence(let seq) = node else {
            fail("expected a list, got \(Self.kind(of: node))")
            return nil
        }
        return seq.enumerated().map { i, n in
            YAMLField(reader: reader, path: "\(path)[\(i)]", node: n, keyLine: n.mark?.line ?? line)
        }
    }

    private func bounded(_ v: Int, min: Int?, max: Int?, hint: String?) -> Int? {
        if let min, v < min {
            let what = min == 1 ? "must be at least 1" : min == 0 ? "must not be negative" : "must be at least \(min)"
            fail("\(what), got \(v)", hint: hint)
            return nil
        }
        if let max, v > max {
            fail("must be at most \(max), got \(v)", hint: hint)
            return nil
        }
        return v
    }

    static func format(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }
}
