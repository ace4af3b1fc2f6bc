import AgentProtocol
import Foundation
import NodeManager
import SSHTransport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A directory removed when the value is released (or by `remove()`).
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init(prefix: String = "rm-test") throws {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw POSIX.Error("mkdtemp", errno: errno)
        }
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    public func file(_ name: String) -> String { "\(path)/\(name)" }

    public func write(_ name: String, _ contents: String, mode: mode_t = 0o644) throws -> String {
        let p = file(name)
        try contents.write(toFile: p, atomically: true, encoding: .utf8)
        chmod(p, mode)
        return p
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    deinit { remove() }
}

/// Whether this process may do what root-only tests need (network namespaces, sshd).
public enum TestEnvironment {
    public static var isRoot: Bool { geteuid() == 0 }
    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }
    /// Root tests run as root, and also on CI where not being root must fail them (see `requireRoot`).
    public static var canRunRootTests: Bool { isRoot || isCI }
    public static let skipMessage = "needs root (network namespaces, sshd): skipped; run the tests as root (CI=true makes this a failure)"

    public struct NotRoot: Error, CustomStringConvertible {
        public var description: String { "this test needs root and CI=true forbids skipping it" }
    }

    /// Throws on CI when not root (the test then fails); elsewhere tests are disabled by the trait.
    public static func requireRoot() throws {
        if !isRoot { throw NotRoot() }
    }

    /// The built `ringmaster-agent` next to the test bundle, or `RINGMASTER_AGENT`.
    public static var agentExecutable: String {
        if let p = ProcessInfo.processInfo.environment["RINGMASTER_AGENT"], !p.isEmpty { return p }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("ringmaster-agent").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("ringmaster-agent").path
    }
}

/// Output of a finished command.
public struct CommandResult: Sendable {
    public var status: POSIX.Termination?
    public var output: String
    public var succeeded: Bool { status == .exited(0) }
}

public struct CommandFailed: Error, CustomStringConvertible {
    public var command: [String]
    public var result: CommandResult
    public var description: String { "\(command.joined(separator: " ")) failed (\(result.status.map { "\($0)" } ?? "?")): \(result.output)" }
}

/// Runs a short command on a thread of its own (never blocking the cooperative pool); stdout and stderr
/// together, at most 1 MiB.
@discardableResult
public func runCommand(_ argv: [String], check: Bool = true, stdin: String? = nil) async throws -> CommandResult {
    let result = try await onDedicatedThread(name: "command") { () throws -> CommandResult in
        let (status, output) = try POSIX.capture(argv, stdin: stdin)
        return CommandResult(status: status, output: output)
    }
    if check, !result.succeeded { throw CommandFailed(command: argv, result: result) }
    return result
}

public struct TimedOut: Error, CustomStringConvertible {
    public var what: String
    public var description: String { "timed out waiting for \(what)" }
}

/// Runs `body`, failing with `TimedOut` after `limit` (real time).
public func withTimeout<T: Sendable>(_ limit: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try? await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TimedOut(what: what) }
        return value
    }
}

/// Checks `condition` until it holds, at most `limit`: for states outside the process (a pid gone, a file
/// written) that send no event. Bounded; the interval only paces the checks.
public func eventually(
    _ what: String, within limit: Duration = .seconds(5), every interval: Duration = .milliseconds(20),
    _ condition: @Sendable () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    while true {
        if try await condition() { return }
        guard ContinuousClock.now < deadline else { throw TimedOut(what: what) }
        try await Task.sleep(for: interval)
    }
}

/// True while `pid` exists and is not a zombie.
public func processIsAlive(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    guard let state = POSIX.statFields(pid)?.first else { return false }
    return state != "Z" && state != "X"
}

/// Resident set size of a process in bytes.
public func residentBytes(of pid: pid_t) -> UInt64? {
    guard let status = POSIX.readText("/proc/\(pid)/status", limit: 16384) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        let v = line.split(separator: " ")
        if v.count >= 2, let kb = UInt64(v[1]) { return kb * 1024 }
    }
    return nil
}

/// A free TCP port on 127.0.0.1 (see `POSIX.freeLoopbackPort`).
public func freeLoopbackPort() -> Int { POSIX.freeLoopbackPort() }
