#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Thin POSIX helpers shared by the agent, the controller's local transport and the test fixtures.
/// Processes are started with posix_spawn only (never fork); every descriptor made here is close-on-exec.
public enum POSIX {
    public struct Error: Swift.Error, CustomStringConvertible, Hashable {
        public var operation: String
        public var errno: Int32
        public init(_ operation: String, errno: Int32) {
            self.operation = operation
            self.errno = errno
        }

        public var description: String { "\(operation): \(String(cString: strerror(errno)))" }
    }

    /// A broken pipe must be an EPIPE error, never the death of the process.
    /// A free TCP port on 127.0.0.1 (bound then released; the caller retries on the rare collision).
    public static func freeLoopbackPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sp -> Int32 in
                _ = bind(fd, sp, len)
                return getsockname(fd, sp, &len)
            }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    public static func ignoreSIGPIPE() {
        signal(SIGPIPE, SIG_IGN)
    }

    public static func setCloseOnExec(_ fd: Int32) {
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }

    public static func setNonBlocking(_ fd: Int32, _ on: Bool = true) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK)
    }

    /// A pipe whose both ends are close-on-exec. (No pipe2 in Swift's Glibc; callers spawn from one thread
    /// or accept that a concurrent spawn may briefly inherit the pipe.)
    public static func makePipe() throws(Error) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw Error("pipe", errno: errno) }
        setCloseOnExec(fds[0])
        setCloseOnExec(fds[1])
        return (fds[0], fds[1])
    }

    /// Writes everything, retrying on EINTR and short writes (blocking descriptors).
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(Error) {
        var off = 0
        while off < bytes.count {
            let n = write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                throw Error("write", errno: errno)
            }
            off += n
        }
    }

    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(Error) {
        let r: Result<Void, Error> = bytes.withUnsafeBytes { buf in
            do throws(Error) {
                try writeAll(fd, buf)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try r.get()
    }

    /// Whole file, at most `limit` bytes; nil when it cannot be read.
    public static func readFile(_ path: String, limit: Int = 1 << 20) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16384)
        while out.count < limit {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, min($0.count, limit - out.count)) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return out
    }

    /// The fields of `/proc/PID/stat` after the command name (which may hold spaces and parentheses):
    /// `[0]` is the state letter, `[1]` the parent pid, `[11]`/`[12]` utime/stime in clock ticks.
    public static func statFields(_ pid: pid_t) -> [Substring]? {
        guard let stat = readText("/proc/\(pid)/stat", limit: 4096), let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    public static func readText(_ path: String, limit: Int = 1 << 20) -> String? {
        readFile(path, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Hex SHA-256 of a file's contents.
    public static func sha256(ofFile path: String) throws(Error) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Error("open \(path)", errno: errno) }
        defer { close(fd) }
        var hasher = SHA256Hasher()
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buf.deallocate() }
        while true {
            let n = read(fd, buf.baseAddress!, buf.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw Error("read \(path)", errno: errno)
            }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buf[0..<n]))
        }
        return SHA256Hasher.hexString(hasher.finalize())
    }

    /// What to connect a child's descriptor to.
    public enum ChildIO: Sendable {
        case inherit
        case devNull
        /// dup2 this descriptor of the parent.
        case fd(Int32)
    }

    /// Starts `argv` with posix_spawnp. The child gets default signal dispositions (SIGPIPE included)
    /// and an empty signal mask; `newProcessGroup` puts it in a group of its own (pgid = pid).
    public static func spawn(
        _ argv: [String], environment: [String]? = nil, stdin: ChildIO = .devNull, stdout: ChildIO = .inherit,
        stderr: ChildIO = .inherit, newProcessGroup: Bool = false
    ) throws(Error) -> pid_t {
        precondition(!argv.isEmpty)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, io) in [(Int32(0), stdin), (1, stdout), (2, stderr)] {
            switch io {
            case .inherit: break
            case .devNull: posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            case .fd(let fd): posix_spawn_file_actions_adddup2(&actions, fd, target)
            }
        }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setsigmask(&attr, &none)
        var flags = Int32(POSIX_SPAWN_SETSIGDEF) | Int32(POSIX_SPAWN_SETSIGMASK)
        if newProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attr, 0)
        }
        posix_spawnattr_setflags(&attr, Int16(flags))

        let cArgv = argv.map { strdup($0) } + [nil]
        defer { cArgv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc: Int32
        if let environment {
            let cEnv = environment.map { strdup($0) } + [nil]
            defer { cEnv.forEach { free($0) } }
            rc = posix_spawnp(&pid, argv[0], &actions, &attr, cArgv, cEnv)
        } else {
            rc = posix_spawnp(&pid, argv[0], &actions, &attr, cArgv, environ)
        }
        guard rc == 0 else { throw Error("spawn \(argv[0])", errno: rc) }
        return pid
    }

    /// Runs `argv` to its end (blocking: call it from a thread of its own, never from the
    /// cooperative pool) and returns how it ended and its stdout, with stderr too when
    /// `mergeStderr` (else stderr is discarded); output past `limit` bytes is dropped.
    public static func capture(
        _ argv: [String], stdin: String? = nil, mergeStderr: Bool = true, limit: Int = 1 << 20
    ) throws(Error) -> (status: Termination?, output: String) {
        let (r, w) = try makePipe()
        var input: (read: Int32, write: Int32)?
        if stdin != nil {
            do { input = try makePipe() } catch {
                close(r)
                close(w)
                throw error
            }
        }
        let pid: pid_t
        do {
            pid = try spawn(argv, stdin: input.map { .fd($0.read) } ?? .devNull, stdout: .fd(w),
                            stderr: mergeStderr ? .fd(w) : .devNull)
        } catch {
            [r, w, input?.read ?? -1, input?.write ?? -1].filter { $0 >= 0 }.forEach { close($0) }
            throw error
        }
        close(w)
        if let input, let stdin {
            close(input.read)
            try? writeAll(input.write, Array(stdin.utf8))
            close(input.write)
        }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(r, $0.baseAddress!, $0.count) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { break }
            if out.count < limit { out += buf[0..<min(n, limit - out.count)] }
        }
        close(r)
        return (wait(pid), String(decoding: out, as: UTF8.self))
    }

    /// How a child ended.
    public enum Termination: Hashable, Sendable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        public init(waitStatus s: Int32) {
            if s & 0x7f == 0 { self = .exited((s >> 8) & 0xff) } else { self = .signaled(s & 0x7f) }
        }

        public var description: String {
            switch self {
            case .exited(let c): "exit status \(c)"
            case .signaled(let s): "signal \(s)"
            }
        }
    }

    /// Blocking waitpid (EINTR retried).
    public static func wait(_ pid: pid_t) -> Termination? {
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, 0)
            if r == pid { return Termination(waitStatus: status) }
            if r < 0, errno == EINTR { continue }
            return nil
        }
    }

    /// Non-blocking waitpid: nil while the child runs.
    public static func tryWait(_ pid: pid_t) -> Termination? {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        return r == pid ? Termination(waitStatus: status) : nil
    }

    /// Environment of this process as `KEY=VALUE` strings.
    public static var currentEnvironment: [String: String] {
        var out: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { out[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return out
    }

    /// Monotonic clock in nanoseconds.
    public static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
