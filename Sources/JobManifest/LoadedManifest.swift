import Foundation

/// A validated manifest with the file it came from and the line of each field it set,
/// so checks that need other inputs (placement against an inventory) can still point at a line.
public struct LoadedManifest<Value: Sendable>: Sendable {
    public var value: Value
    public var file: String
    /// The manifest text as written (stored with a job so it can be shown and re-validated).
    public var source: String
    public var lines: [String: Int]

    /// A problem found later, placed at the line of `field` (or of its nearest parent that was written).
    public func error(field: String, message: String, hint: String? = nil) -> ManifestError {
        var key = field
        var line = lines[key]
        while line == nil, let dot = key.lastIndex(of: ".") {
            key = String(key[..<dot])
            line = lines[key]
        }
        return ManifestError(file: file, line: line, field: field, message: message, hint: hint)
    }
}

/// Reading and parsing shared by the job and inventory loaders.
enum ManifestSource {
    static func read(_ path: String) throws(ManifestErrors) -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ManifestErrors([ManifestError(file: path, line: nil, field: "", message: "cannot read the file",
                                                hint: "check the path and its permissions")])
        }
    }

    /// Composes `text`, checks its top-level fields against `topLevel`, and reads it with `fields`;
    /// throws every error found.
    static func parse<Value: Sendable>(
        _ text: String, file: String, topLevel: [String], fields: (ManifestReader, YAMLMap) -> Value?
    ) throws(ManifestErrors) -> LoadedManifest<Value> {
        let reader = ManifestReader(file: file)
        let value = reader.compose(text).flatMap { root in
            YAMLMap(root, path: "", reader: reader, allowed: topLevel).flatMap { fields(reader, $0) }
        }
        guard let value, reader.errors.isEmpty else { throw ManifestErrors(reader.errors) }
        return LoadedManifest(value: value, file: file, source: text, lines: reader.lines)
    }
}
