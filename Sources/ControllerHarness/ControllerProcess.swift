import ControllerAPI
import Foundation
import RingmasterModel
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// A real `ringmaster controller` process on a state directory, with an API client and the CLI bound to
/// it: what the daemon tests and the CLI's controller benchmarks drive. `launcher` prefixes the commands
/// (e.g. `ip netns exec NS` for the namespace cluster). Released while the controller runs, it kills it.
public final class ControllerProcess: Sendable {
    /// The `ringmaster` executable that runs the controller and the CLI commands.
    public let ringmaster: String
    public let directory: StateDirectory
    public let launcher: [String]
    public let info: ControllerInfo
    public let token: String
    /// Where the controller's output goes: `controller.log` in the state directory unless told otherwise.
    public let logFile: String
    private let process: ChildProcess

    /// The controller's pid (spawned directly, its output in the state directory's `controller.log`).
    public var pid: pid_t { process.pid }
    public var stateDirectory: String { directory.path }

    public struct StartFailed: Error, CustomStringConvertible {
        public var status: Int32
        public var log: String
        public var description: String { "controller exited with \(status) before serving: \(log)" }
    }

    /// Starts the controller (API on a free loopback port, output appended to `controller.log`, or to
    /// `logFile` — e.g. outside a state directory on a filesystem a test fills) and waits until it serves:
    /// `controller.json` names its pid and the API token is written.
    public static func start(
        ringmaster: String, cluster: String, stateDirectory: String, launcher: [String] = [], extra: [String] = [],
        logLevel: String = "debug", logFile: String? = nil, within limit: Duration = .seconds(60)
    ) async throws -> ControllerProcess {
        let directory = StateDirectory(stateDirectory)
        let log = logFile ?? directory.controllerLog
        let argv = launcher + [ringmaster, "controller", "--cluster", cluster, "--state-dir", directory.path,
                               "--listen", "127.0.0.1:0", "--log-level", logLevel] + extra
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        let process = try ChildProcess(argv, stdout: .appendTo(log), stderr: .stdout)
        do {
            try await eventually("the controller to write \(directory.infoFile)", within: limit) {
                if let ended = process.termination {
                    throw StartFailed(status: ended.exitStatus, log: POSIX.readText(log) ?? "")
                }
                // `ip netns exec` and `env` exec the controller in place: the pid is the same.
                return directory.readInfo()?.pid == process.pid && directory.readToken() != nil
            }
        } catch {
            process.signal(SIGKILL)
            await process.exit()
            throw error
        }
        guard let info = directory.readInfo(), let token = directory.readToken() else {
            throw StartFailed(status: -1, log: "\(directory.infoFile) or \(directory.tokenFile) went away")
        }
        return ControllerProcess(ringmaster: ringmaster, directory: directory, launcher: launcher, info: info, token: token,
                                 logFile: log, process: process)
    }

    private init(ringmaster: String, directory: StateDirectory, launcher: [String], info: ControllerInfo, token: String,
                 logFile: String, process: ChildProcess) {
        self.ringmaster = ringmaster
        self.directory = directory
        self.launcher = launcher
        self.info = info
        self.token = token
        self.logFile = logFile
        self.process = process
    }

    /// The controller's log so far.
    public var log: String { POSIX.readText(logFile) ?? "" }

    public func client(token: String? = nil, timeout: Double = 30) throws -> ControllerClient {
        try ControllerClient(url: info.url, token: token ?? self.token, timeoutSeconds: timeout)
    }

    /// Runs `ringmaster ARGS --state-dir DIR` (through the launcher) and returns its status and output
    /// (stdout and stderr as one stream).
    public func cli(_ arguments: [String]) async throws -> CompletedProcess {
        try await ChildProcess.run(launcher + [ringmaster] + arguments + ["--state-dir", directory.path], mergeStderr: true)
    }

    /// Runs `ringmaster ARGS --json` and decodes its output (for controllers inside a namespace).
    public func cliJSON<T: Decodable>(_ arguments: [String], as: T.Type) async throws -> T {
        let result = try await cli(arguments + ["--json"]).check()
        return try APICoding.decoder().decode(T.self, from: Data(result.standardOutput.utf8))
    }

    /// A blocking API call on a thread of its own. (Under a launcher the API is inside a namespace the
    /// caller is not in: use `cli` there.)
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

    /// A line of an event stream that is not an event names itself in the error.
    public struct UnreadableEvent: Error, CustomStringConvertible {
        public var line: String
        public var error: String
        public var description: String { "an event stream line is not an event (\(error)): `\(line.prefix(400))` (\(line.utf8.count) bytes)" }
    }

    static func event(_ line: String) throws -> EventView {
        do { return try APICoding.decoder().decode(EventView.self, from: Data(line.utf8)) } catch {
            throw UnreadableEvent(line: line, error: "\(error)")
        }
    }

    /// Follows the job's events until it reaches a final state; returns the job then.
    public func waitForJob(_ id: String, within limit: Duration = .seconds(120)) async throws -> JobView {
        try await withTimeout(limit, "job \(id) to end") {
            try await self.call { client in
                try client.stream("\(APIVersion.prefix)/events?follow=1&job=\(id)") { line in
                    let e = try Self.event(line)
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
                    let e = try Self.event(line)
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
        let out = try await ChildProcess.run(["pgrep", "-P", "\(pid)"]).standardOutput
        return out.split(separator: "\n").compactMap { pid_t($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// SIGTERM, then the exit status (128 + signal when killed by one). A controller still running
    /// `limit` after the SIGTERM is a shutdown that hangs: it is killed (so its caller sees 137, not a
    /// test run that never ends) and the end of its log goes to stderr.
    @discardableResult
    public func stop(within limit: Duration = .seconds(60)) async -> Int32 {
        process.signal(SIGTERM)
        let process = self.process, directory = self.directory
        let watchdog = Task {
            try await Task.sleep(for: limit)
            guard process.termination == nil else { return }
            let tail = (POSIX.readText(directory.controllerLog) ?? "").split(separator: "\n").suffix(40)
            FileHandle.standardError.write(Data((
                "controller \(process.pid) on \(directory.path) did not stop within \(limit) of SIGTERM; killing it. " +
                "The end of its log:\n" + tail.joined(separator: "\n") + "\n").utf8))
            process.signal(SIGKILL)
        }
        let status = await exit()
        watchdog.cancel()
        return status
    }

    /// SIGKILL: the controller dies without cleaning up.
    public func kill9() async {
        process.signal(SIGKILL)
        await exit()
    }

    /// Waits for the controller to end; its exit status (128 + signal when killed by one).
    @discardableResult
    public func exit() async -> Int32 { await process.exit() }
}
