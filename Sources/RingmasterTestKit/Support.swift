import Foundation
import SystemUtilities

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
