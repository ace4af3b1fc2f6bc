import FuzzSupport
import JobManifest

/// What every manifest reader promises, whatever the text: a manifest is loaded, keeping its text, with
/// the line of each field a line of the text; or refused with errors that name the file and, where they
/// have one, a line of it (`FILE:LINE: field: message`). Nothing else: no crash, no hang.
public enum ManifestChecks {
    public static func load<Value>(
        _ text: String, file: String, with parse: (String, String) throws(ManifestErrors) -> LoadedManifest<Value>
    ) -> LoadedManifest<Value>? {
        let lines = SourceLines(text)
        do {
            let loaded = try parse(text, file)
            Fuzzer.require(loaded.source == text, "a loaded manifest keeps its text")
            for (field, line) in loaded.lines { lines.require(line, "field \(field)") }
            return loaded
        } catch {
            Fuzzer.require(!error.errors.isEmpty, "a refused manifest says why")
            for e in error.errors {
                Fuzzer.require(e.file == file, "error names another file: \(e)")
                lines.require(e.line, "error \(e)")
            }
            return nil
        }
    }
}
