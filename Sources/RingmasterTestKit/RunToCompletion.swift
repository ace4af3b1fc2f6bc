import Foundation

/// The outcome of a finished child process.
public struct CompletedProcess: Sendable {
    public var status: Int32
    public var standardOutput: String
    public var standardError: String
}

/// Runs `executable` to completion with stdout and stderr sent to temporary files (no pipes, so no
/// end-of-file to wait for), waiting on a dedicated thread rather than in the cooperative pool.
public func runToCompletion(_ executable: String, _ arguments: [String],
                            environment: [String: String]? = nil) async throws -> CompletedProcess {
    let dir = try makeTemporaryDirectory(prefix: "ringmaster-run")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let outPath = "\(dir)/stdout", errPath = "\(dir)/stderr"
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    try process.run()
    let status: Int32 = await withCheckedContinuation { c in
        Thread.detachNewThread {
            process.waitUntilExit()
            c.resume(returning: process.terminationStatus)
        }
    }
    let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    return CompletedProcess(status: status, standardOutput: out, standardError: err)
}
