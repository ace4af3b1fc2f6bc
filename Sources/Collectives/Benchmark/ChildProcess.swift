#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A child process started with posix_spawn (never fork: the parent has threads), with its
/// standard output optionally captured through a pipe.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    /// Read end of the child's stdout, or -1 when not captured.
    public let stdoutFD: Int32
    private var reaped: Int32?

    /// Starts `path` with `arguments` and `environment` ("KEY=VALUE"); stdin is /dev/null,
    /// stderr is inherited.
    public init(path: String, arguments: [String], environment: [String], captureStdout: Bool) throws {
        _ = Socket.ignoreSIGPIPE
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var pipeFDs: [Int32] = [-1, -1]
        if captureStdout {
            guard pipe(&pipeFDs) == 0 else { throw SocketError(what: "pipe", code: errno) }
            _ = fcntl(pipeFDs[0], F_SETFD, FD_CLOEXEC)
            posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
            posix_spawn_file_actions_addclose(&actions, pipeFDs[1])
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Children start with default SIGPIPE handling reset by us to ignore (they ignore it too).
        var sigdefault = sigset_t()
        sigemptyset(&sigdefault)
        posix_spawnattr_setsigdefault(&attributes, &sigdefault)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF))

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        var child: pid_t = 0
        let rc = posix_spawn(&child, path, &actions, &attributes, argv, envp)
        if captureStdout { close(pipeFDs[1]) }
        guard rc == 0 else {
            if captureStdout { close(pipeFDs[0]) }
            throw SocketError(what: "posix_spawn \(path)", code: rc)
        }
        pid = child
        stdoutFD = pipeFDs[0]
    }

    /// Reads one line of the child's stdout (blocking; nil at EOF).
    public func readLine() -> String? {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = read(stdoutFD, &byte, 1)
            if n == 1 {
                if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
                line.append(byte)
            } else if n < 0 && errno == EINTR {
                continue
            } else {
                return line.isEmpty ? nil : String(decoding: line, as: UTF8.self)
            }
        }
    }

    /// Reads the rest of stdout until EOF.
    public func readAll() -> String {
        var lines: [String] = []
        while let l = readLine() { lines.append(l) }
        return lines.joined(separator: "\n")
    }

    public func signal(_ sig: Int32) { if reaped == nil { kill(pid, sig) } }

    /// Waits for exit; returns the raw wait status.
    @discardableResult
    public func wait() -> Int32 {
        if let reaped { return reaped }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        reaped = status
        return status
    }

    /// Exit code, or 128 + signal when killed.
    public static func exitCode(_ status: Int32) -> Int32 {
        (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }

    deinit {
        if reaped == nil { kill(pid, SIGKILL); wait() }
        if stdoutFD >= 0 { close(stdoutFD) }
    }
}
