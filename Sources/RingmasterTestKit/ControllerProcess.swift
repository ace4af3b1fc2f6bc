import AgentProtocol
import ControllerAPI
import Foundation
import RingmasterModel
import SSHTransport
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A real `ringmaster controller` process on a temporary state directory, with an API client and the
/// CLI bound to it. `launcher` prefixes the commands (e.g. `ip netns exec NS` for the namespace cluster).
public final class ControllerProcess: Sendable {
    /// The controller's pid (spawned directly, its output in `<state>/controller.log`).
    public let pid: pid_t
    private let exitStatus = Mutex<Int32?>(nil)
    public let stateDirectory: String
    public let launcher: [String]
    public let info: ControllerInfo
    public let token: String

    public struct StartFailed: Error, CustomStringConvertible {
        public var status: Int32
        public var stderr: String
        public var description: String { "controller exited with \(status) before serving: \(stderr)" }
    }

    /// Starts the controller (API on a free loopback port) and waits until it serves and wrote
    /// `controller.json`.
    public static func start(cluster: String, stateDirectory: String, launcher: [String] = [], extra: [String] = [])
        async throws -> ControllerProcess
    {
        let ringmaster = try BuiltProducts.executable("ringmaster")
        let argv = launcher + [ringmaster, "controller", "--cluster", cluster, "--state-dir", stateDirectory,
                               "--listen", "127.0.0.1:0", "--log-level", "debug"] + extra
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        let logFile = "\(stateDirectory)/controller.log"
        let log = open(logFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        // posix_spawn and a blocking waitpid on a thread of its own: no Foundation Process, no dispatch sources.
        let pid = try POSIX.spawn(argv, stdout: .fd(log), stderr: .fd(log))
        close(log)
        let infoFile = "\(stateDirectory)/controller.json"
        do {
            try await eventually("the controller to write \(infoFile)", within: .seconds(60)) {
                var status: Int32 = 0
                if waitpid(pid, &status, WNOHANG) == pid {
                    throw StartFailed(status: status, stderr: POSIX.readText(logFile) ?? "")
                }
                guard let data = FileManager.default.contents(atPath: infoFile),
                      let info = try? APICoding.decoder().decode(ControllerInfo.self, from: data) else { return false }
                // `ip netns exec` and `env` exec the controller in place: the pid is the same.
                return info.pid == pid
            }
        } catch {
            kill(pid, SIGKILL)
            _ = try? await onDedicatedThread(name: "controller wait") { POSIX.wait(pid) }
            throw error
        }
        let data = FileManager.default.contents(atPath: infoFile)!
        let info = try APICoding.decoder().decode(ControllerInfo.self, from: data)
        let token = try String(contentsOfFile: "\(stateDirectory)/api-token", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return ControllerProcess(pid: pid, stateDirectory: stateDirectory, launcher: launcher, info: info, token: token)
    }

    /// The controller's log so far.
    public var log: String { POSIX.readText("\(stateDirectory)/controller.log") ?? "" }

    /// A test that fails half-way never leaves its controller (and so its agents and ranks) running.
    deinit {
        if exitStatus.withLock({ $0 }) == nil {
            kill(pid, SIGKILL)
            _ = POSIX.wait(pid)
        }
    }

    init(pid: pid_t, stateDirectory: String, launcher: [String], info: ControllerInfo, token: String) {
        self.pid = pid
        self.stateDirectory = stateDirectory
        self.launcher = launcher
        self.info = info
        self.token = token
    }

    public func client(token: String? = nil, timeout: Double = 30) throws -> ControllerClient {
        try ControllerClient(url: info.url, token: token ?? self.token, timeoutSeconds: timeout)
    }

    /// Runs `ringmaster ARGS --state-dir DIR` (through the launcher) and returns its status and output.
    public func cli(_ arguments: [String]) async throws -> CommandResult {
        let ringmaster = try BuiltProducts.executable("ringmaster")
        return try await runCommand(launcher + [ringmaster] + arguments + ["--state-dir", stateDirectory], check: false)
    }

    /// Runs `ringmaster ARGS --json` and decodes its output (for controllers inside a namespace).
    public func cliJSON<T: Decodable>(_ arguments: [String], as: T.Type) async throws -> T {
        let result = try await cli(arguments + ["--json"])
        guard result.succeeded else { throw CommandFailed(command: arguments, result: result) }
        return try APICoding.decoder().decode(T.self, from: Data(result.output.utf8))
    }

    /// A blocking API call on a thread of its own. (Under a launcher the API is inside a namespace the
    /// test process is not in: use `cli` there.)
    public func call<T: Sendable>(_ body: @escaping @Sendable (ControllerClient) throws -> T) async throws -> T {
        let client = try client()
        return try await onDedicatedThread(name: "api call") { try body(client) }
    }

    /// Waits until `count` nodes are ready.
    public func waitForReadyNodes(_ count: Int, within limit: Duration = .seconds(60)) async throws {
        try await eventually("\(count) ready nodes", within: limit, every: .milliseconds(100)) {
            let nodes = try await self.call { try $0.get("\(APIVersion.prefix)/nodes", as: [NodeView].self) }
            return nodes.filter { $0.state == .ready }.count >= count
        }
    }

    /// Follows the job's events until it reaches a final state; returns the job then.
    public func waitForJob(_ id: String, within limit: Duration = .seconds(120)) async throws -> JobView {
        try await withTimeout(limit, "job \(id) to end") {
            try await self.call { client in
                try client.stream("\(APIVersion.prefix)/events?follow=1&job=\(id)") { line in
                    let e = try APICoding.decoder().decode(EventView.self, from: Data(line.utf8))
                    return !(e.jobStateTo?.isFinal ?? false)
                }
                return try client.get("\(APIVersion.prefix)/jobs/\(id)", as: JobDetail.self).job
            }
        }
    }

    /// Follows the job's events (from the first) until one matches; returns it.
    public func waitForEvent(job id: String, within limit: Duration = .seconds(120),
                             where predicate: @escaping @Sendable (EventView) -> Bool) async throws -> EventView {
        try await withTimeout(limit, "an event of job \(id)") {
            try await self.call { client in
                nonisolated(unsafe) var found: EventView?
                try client.stream("\(APIVersion.prefix)/events?follow=1&job=\(id)") { line in
                    let e = try APICoding.decoder().decode(EventView.self, from: Data(line.utf8))
                    if predicate(e) { found = e }
                    return found == nil
                }
                guard let found else { throw TimedOut(what: "an event of job \(id) (the stream ended)") }
                return found
            }
        }
    }

    /// Pids of the controller's direct children (local agents).
    public func childPids() async throws -> [pid_t] {
        let out = try await runCommand(["pgrep", "-P", "\(pid)"], check: false).output
        return out.split(separator: "\n").compactMap { pid_t($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// SIGTERM, then the exit status (128 + signal when killed by one).
    public func stop() async -> Int32 {
        kill(pid, SIGTERM)
        return await exit()
    }

    /// SIGKILL: the controller dies without cleaning up.
    public func kill9() async {
        kill(pid, SIGKILL)
        _ = await exit()
    }

    /// Waits for the controller to end.
    public func exit() async -> Int32 {
        if let status = exitStatus.withLock({ $0 }) { return status }
        let pid = self.pid
        let termination: POSIX.Termination? = try? await onDedicatedThread(name: "controller wait") { () -> POSIX.Termination? in
            POSIX.wait(pid)
        }
        var status: Int32 = -1
        if case .exited(let c) = termination { status = c }
        if case .signaled(let s) = termination { status = 128 + s }
        exitStatus.withLock { $0 = status }
        return status
    }
}
