import SystemUtilities
import AgentCore
import AgentProtocol
import RingmasterModel

#if canImport(Glibc)
import Glibc
#endif

/// The descriptors of one rank the agent started: output pipes, log files, report socket.
final class RankIO {
    /// The rank's reference: a rank that rejoins the next attempt in process is filed under a new one.
    var ref: RankRef
    let pid: pid_t
    /// Read ends of the rank's stdout and stderr pipes (-1 once closed).
    var fds: [Int32]
    var logFiles: [LogFile]
    var controlFD: Int32
    let controlPath: String
    /// The address the rank's reports come from (a rank that binds its sending socket can be answered).
    var peer: (address: sockaddr_un, length: socklen_t)?

    init(ref: RankRef, pid: pid_t, fds: [Int32], logFiles: [LogFile], controlFD: Int32, controlPath: String) {
        self.ref = ref
        self.pid = pid
        self.fds = fds
        self.logFiles = logFiles
        self.controlFD = controlFD
        self.controlPath = controlPath
    }

    static let streams: [LogStream] = [.stdout, .stderr]

    /// Reads what is available on one output pipe into `buffer` and appends it to the log file. Returns the
    /// bytes read (empty at end of file, when the pipe is then closed, or when nothing is available).
    func readOutput(stream: Int, buffer: UnsafeMutableRawBufferPointer) -> UnsafeRawBufferPointer {
        let fd = fds[stream]
        guard fd >= 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let n = read(fd, buffer.baseAddress!, buffer.count)
        if n < 0, errno == EINTR || errno == EAGAIN { return UnsafeRawBufferPointer(start: nil, count: 0) }
        if n <= 0 {
            Glibc.close(fd)
            fds[stream] = -1
            return UnsafeRawBufferPointer(start: nil, count: 0)
        }
        let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
        logFiles[stream].append(chunk)
        return chunk
    }

    /// Up to 64 datagrams waiting on the report socket.
    func readReports(buffer: UnsafeMutableRawBufferPointer) -> [[UInt8]] {
        guard controlFD >= 0 else { return [] }
        var datagrams: [[UInt8]] = []
        for _ in 0..<64 {
            var from = sockaddr_un()
            var length = socklen_t(MemoryLayout<sockaddr_un>.size)
            let n = withUnsafeMutablePointer(to: &from) { ptr in
                ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    recvfrom(controlFD, buffer.baseAddress!, buffer.count, Int32(MSG_DONTWAIT), $0, &length)
                }
            }
            if n < 0 { break }
            if length > socklen_t(MemoryLayout<sa_family_t>.size) { peer = (from, length) }
            datagrams.append(Array(UnsafeRawBufferPointer(rebasing: buffer[0..<n])))
        }
        return datagrams
    }

    /// Sends one request line to the rank's bound address; false when the rank has none (it never reported
    /// from a bound socket) or its socket did not take it.
    func relay(_ line: String) -> Bool {
        guard controlFD >= 0, var to = peer?.address, let length = peer?.length else { return false }
        let bytes = Array(line.utf8)
        let sent = withUnsafePointer(to: &to) { ptr in
            ptr.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(controlFD, bytes, bytes.count, Int32(MSG_DONTWAIT), $0, length)
            }
        }
        return sent == bytes.count
    }

    func close() {
        for stream in 0..<2 {
            if fds[stream] >= 0 {
                Glibc.close(fds[stream])
                fds[stream] = -1
            }
            if logFiles[stream].fd >= 0 {
                Glibc.close(logFiles[stream].fd)
                logFiles[stream].fd = -1
            }
        }
        if controlFD >= 0 {
            Glibc.close(controlFD)
            controlFD = -1
            unlink(controlPath)
        }
    }

    /// Starts the rank `spawn` describes: checks the executable, working and log directories, opens the log
    /// files, binds the report socket, and spawns `/proc/self/exe --exec-rank …` in a new process group.
    /// Returns the rank's descriptors, or why it could not start.
    static func start(_ spawn: RankSpawn, agentPID: pid_t) -> Result<RankIO, SpawnFailure> {
        let request = spawn.request
        guard resolveExecutable(request.argv[0], path: request.env["PATH"], cwd: request.cwd) != nil else {
            return .failure(SpawnFailure("executable not found: \(request.argv[0])"))
        }
        let files: Files
        switch Files.open(spawn) {
        case .success(let opened): files = opened
        case .failure(let failure): return .failure(failure)
        }
        guard let outPipe = try? POSIX.makePipe(), let errPipe = try? POSIX.makePipe() else {
            files.close(spawn)
            return .failure(SpawnFailure("cannot create pipes"))
        }
        let argv = ["/proc/self/exe"] + AgentOptions(mode: .execRank(parentPID: agentPID, cwd: request.cwd, argv: request.argv)).arguments
        let pid: pid_t
        do {
            pid = try POSIX.spawn(
                argv, environment: request.env.map { "\($0.key)=\($0.value)" }.sorted(), stdin: .devNull,
                stdout: .fd(outPipe.write), stderr: .fd(errPipe.write), newProcessGroup: true)
        } catch {
            for fd in [outPipe.read, outPipe.write, errPipe.read, errPipe.write] { Glibc.close(fd) }
            files.close(spawn)
            return .failure(SpawnFailure("\(error)"))
        }
        Glibc.close(outPipe.write)
        Glibc.close(errPipe.write)
        POSIX.setNonBlocking(outPipe.read)
        POSIX.setNonBlocking(errPipe.read)
        return .success(
            RankIO(
                ref: request.rank, pid: pid, fds: [outPipe.read, errPipe.read], logFiles: files.logFiles,
                controlFD: files.controlFD, controlPath: spawn.controlPath))
    }

    /// Starts the rank in a waiting interpreter: the same checks and files as a process of its own, then the
    /// launch down the interpreter's pipe; what it wrote while it waited opens the log files. When the
    /// interpreter is gone (it no longer reads its pipe), it is killed and the rank starts as a process.
    static func start(_ spawn: RankSpawn, into interpreter: WarmInterpreter, agentPID: pid_t) -> Result<RankIO, SpawnFailure> {
        let request = spawn.request
        let files: Files
        switch Files.open(spawn) {
        case .success(let opened): files = opened
        case .failure(let failure):
            kill(-interpreter.pid, SIGKILL)
            interpreter.close()
            return .failure(failure)
        }
        let program = Array(request.argv.dropFirst(1 + (request.warm?.options.count ?? 0)))
        guard interpreter.hand(WarmLaunch(program: program, env: request.env, cwd: request.cwd)) else {
            agentLog("warm interpreter \(interpreter.pid) is gone: \(request.rank) starts as a process")
            kill(-interpreter.pid, SIGKILL)
            interpreter.close()
            files.close(spawn)
            return start(spawn, agentPID: agentPID)
        }
        var logFiles = files.logFiles
        for stream in 0..<2 where !interpreter.early[stream].isEmpty {
            interpreter.early[stream].withUnsafeBytes { logFiles[stream].append($0) }
        }
        let fds = interpreter.fds
        interpreter.fds = [-1, -1]
        return .success(
            RankIO(ref: request.rank, pid: interpreter.pid, fds: fds, logFiles: logFiles, controlFD: files.controlFD,
                   controlPath: spawn.controlPath))
    }

    /// A rank's log files and report socket, opened before it starts.
    struct Files {
        var logFiles: [LogFile]
        var controlFD: Int32

        /// Checks the working and log directories, opens the log files and binds the report socket.
        static func open(_ spawn: RankSpawn) -> Result<Files, SpawnFailure> {
            let request = spawn.request
            if let cwd = request.cwd {
                var st = stat()
                guard stat(cwd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
                    return .failure(SpawnFailure("working directory not found: \(cwd)"))
                }
            }
            guard makeDirectories(request.logDir) else { return .failure(SpawnFailure("cannot create log directory \(request.logDir)")) }
            let cap = request.maxLogFileBytes ?? (1 << 30)
            var logFiles: [LogFile] = []
            for stream in streams {
                let path = "\(request.logDir)/rank-\(request.rank.rank).\(stream.rawValue)"
                let fd = Glibc.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
                if fd < 0 { agentLog("cannot open \(path): \(String(cString: strerror(errno)))") }
                logFiles.append(LogFile(fd: fd, cap: cap))
            }
            let controlFD = makeControlSocket(spawn.controlPath)
            if controlFD < 0 { agentLog("cannot bind control socket \(spawn.controlPath)") }
            return .success(Files(logFiles: logFiles, controlFD: controlFD))
        }

        func close(_ spawn: RankSpawn) {
            for f in logFiles where f.fd >= 0 { Glibc.close(f.fd) }
            if controlFD >= 0 {
                Glibc.close(controlFD)
                unlink(spawn.controlPath)
            }
        }
    }

    struct SpawnFailure: Error {
        let reason: String
        init(_ reason: String) { self.reason = reason }
    }

    static func makeControlSocket(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            Glibc.close(fd)
            return -1
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        unlink(path)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            Glibc.close(fd)
            return -1
        }
        return fd
    }
}

/// A per-rank log file on the node, capped in size.
struct LogFile {
    var fd: Int32
    var written: UInt64 = 0
    var cap: UInt64

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard fd >= 0, written < cap else { return }
        let n = min(UInt64(bytes.count), cap - written)
        if (try? POSIX.writeAll(fd, UnsafeRawBufferPointer(rebasing: bytes[0..<Int(n)]))) == nil {
            close(fd)
            fd = -1
            return
        }
        written += n
        if written >= cap {
            _ = try? POSIX.writeAll(fd, Array("\n[ringmaster-agent: log file cap of \(cap) bytes reached]\n".utf8))
        }
    }
}
