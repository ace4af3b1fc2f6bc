import Foundation

/// The controller's state directory and the names of its files: the SQLite store, the API token, the lock
/// that keeps a second controller out, `controller.json` (where the API listens), the controller's log and
/// the rank logs. Clients find a controller through it; the controller creates, locks and fills it
/// (`Controller`'s extension).
public struct StateDirectory: Sendable {
    public let path: String

    public init(_ path: String) { self.path = path }

    /// `explicit`, else `$RINGMASTER_STATE_DIR`, else `~/.ringmaster`, where `~` is `$HOME` (Foundation's
    /// `NSHomeDirectory()` ignores `$HOME` on Linux; it is only the fallback).
    public static func resolve(_ explicit: String?) -> StateDirectory {
        let environment = ProcessInfo.processInfo.environment
        let env = environment["RINGMASTER_STATE_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        let raw = explicit ?? env ?? (home + "/.ringmaster")
        return StateDirectory(URL(fileURLWithPath: raw).standardizedFileURL.path)
    }

    public var database: String { path + "/state.db" }
    public var tokenFile: String { path + "/api-token" }
    public var infoFile: String { path + "/controller.json" }
    public var lockFile: String { path + "/controller.lock" }
    /// Where a supervisor of the controller process (the test and benchmark harness) sends its output.
    public var controllerLog: String { path + "/controller.log" }
    public var logs: String { path + "/logs" }

    /// Controller-side copies of the ranks' streamed output, per job and attempt.
    public func logDirectory(job: String, attempt: Int) -> String { "\(logs)/\(job)/attempt-\(attempt)" }

    public func readToken() -> String? {
        guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else { return nil }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return token.isEmpty ? nil : token
    }

    /// Who serves this directory, from `controller.json`; nil when no controller wrote it (or it is torn).
    public func readInfo() -> ControllerInfo? {
        guard let data = FileManager.default.contents(atPath: infoFile) else { return nil }
        return try? APICoding.decoder().decode(ControllerInfo.self, from: data)
    }
}
