import AgentProtocol
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// One pre-started interpreter (`AgentAction.startWarm`): the socket it says it is ready on and its launch goes
/// down (its stdin, one end of a socket pair), its output pipes, and what it wrote while it waited (import
/// warnings), kept to open the rank's logs with, as a fresh process's output would.
final class WarmInterpreter {
    let pid: pid_t
    let spec: WarmSpec
    var launchFD: Int32
    /// It wrote its "ready" byte: the preload is imported.
    var ready = false
    /// Read ends of its stdout and stderr (-1 once closed); a rank launched into it takes them over.
    var fds: [Int32]
    /// Per stream, what it wrote before a launch (the first `earlyCap` bytes).
    var early: [[UInt8]] = [[], []]
    static let earlyCap = 64 * 1024

    init(pid: pid_t, spec: WarmSpec, launchFD: Int32, fds: [Int32]) {
        self.pid = pid
        self.spec = spec
        self.launchFD = launchFD
        self.fds = fds
    }

    /// Starts `python OPTIONS -c BOOTSTRAP PRELOAD…` through `--exec-rank` (so it dies with the agent) in a new
    /// process group, with the kind's environment and working directory.
    static func start(_ spec: WarmSpec, agentPID: pid_t, defaultPath: String) -> Result<WarmInterpreter, RankIO.SpawnFailure> {
        var env = spec.env
        if env["PATH"] == nil { env["PATH"] = defaultPath }
        guard resolveExecutable(spec.python, path: env["PATH"], cwd: spec.cwd) != nil else {
            return .failure(.init("executable not found: \(spec.python)"))
        }
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            return .failure(.init("cannot create a socket pair: \(String(cString: strerror(errno)))"))
        }
        let launch = (read: pair[1], write: pair[0])  // the interpreter's end, the agent's end
        guard let out = try? POSIX.makePipe(), let err = try? POSIX.makePipe() else {
            for fd in pair { Glibc.close(fd) }
            return .failure(.init("cannot create pipes"))
        }
        let python = [spec.python] + spec.options + ["-c", WarmBootstrap.source] + spec.preload
        let argv = ["/proc/self/exe"] + AgentOptions(mode: .execRank(parentPID: agentPID, cwd: spec.cwd, argv: python)).arguments
        let pid: pid_t
        do {
            pid = try POSIX.spawn(
                argv, environment: env.map { "\($0.key)=\($0.value)" }.sorted(), stdin: .fd(launch.read),
                stdout: .fd(out.write), stderr: .fd(err.write), newProcessGroup: true)
        } catch {
            for fd in [launch.read, launch.write, out.read, out.write, err.read, err.write] { Glibc.close(fd) }
            return .failure(.init("\(error)"))
        }
        for fd in [launch.read, out.write, err.write] { Glibc.close(fd) }
        POSIX.setNonBlocking(out.read)
        POSIX.setNonBlocking(err.read)
        POSIX.setNonBlocking(launch.write)
        return .success(WarmInterpreter(pid: pid, spec: spec, launchFD: launch.write, fds: [out.read, err.read]))
    }

    /// Reads what is available on one output pipe into `early` (closing the pipe at end of file).
    func readOutput(stream: Int, buffer: UnsafeMutableRawBufferPointer) -> Bool {
        let fd = fds[stream]
        guard fd >= 0 else { return false }
        let n = read(fd, buffer.baseAddress!, buffer.count)
        if n < 0, errno == EINTR || errno == EAGAIN { return false }
        if n <= 0 {
            Glibc.close(fd)
            fds[stream] = -1
            return false
        }
        let room = Self.earlyCap - early[stream].count
        if room > 0 { early[stream] += UnsafeRawBufferPointer(rebasing: buffer[0..<min(n, room)]) }
        return true
    }

    /// Reads the ready byte (true once it came). At end of file the socket is closed: the interpreter is going.
    func readReady() -> Bool {
        guard launchFD >= 0 else { return false }
        var byte: UInt8 = 0
        let n = read(launchFD, &byte, 1)
        if n == 1 { ready = true }
        if n == 0 {
            Glibc.close(launchFD)
            launchFD = -1
        }
        return n == 1
    }

    /// Writes the launch line and closes the socket; false when the interpreter no longer reads it (it died).
    func hand(_ launch: WarmLaunch) -> Bool {
        defer {
            Glibc.close(launchFD)
            launchFD = -1
        }
        guard launchFD >= 0 else { return false }
        POSIX.setNonBlocking(launchFD, false)
        return (try? POSIX.writeAll(launchFD, launch.line)) != nil
    }

    /// The end of what it wrote, for the reason a waiting interpreter died.
    var outputTail: String {
        String(decoding: (early[0] + early[1]).suffix(2048), as: UTF8.self)
    }

    func close() {
        for fd in fds + [launchFD] where fd >= 0 { Glibc.close(fd) }
        fds = [-1, -1]
        launchFD = -1
    }
}
