import AgentProtocol
import RingmasterModel
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// One rank process the agent started.
final class RankProcess {
    let ref: RankRef
    let pid: pid_t
    /// Read ends of the rank's stdout and stderr pipes (-1 once closed).
    var fds: [Int32]
    var logFiles: [LogFile]
    var batchers: [LogBatcher] = [LogBatcher(), LogBatcher()]
    var controlFD: Int32
    let controlPath: String
    var exited = false
    /// Monotonic time at which the group gets SIGKILL (after a graceful signal).
    var killAt: UInt64?

    init(ref: RankRef, pid: pid_t, fds: [Int32], logFiles: [LogFile], controlFD: Int32, controlPath: String) {
        self.ref = ref
        self.pid = pid
        self.fds = fds
        self.logFiles = logFiles
        self.controlFD = controlFD
        self.controlPath = controlPath
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

/// The agent: one thread, one poll loop over stdin, stdout, the rank pipes, the rank control sockets and the
/// SIGCHLD self-pipe. Nothing here blocks except short local-disk writes.
final class Agent {
    /// `libRingmasterC.so` next to this executable (the controller uploads it with the agent), if present.
    static let collectivesLibrary: String? = {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        guard n > 0 else { return nil }
        let exe = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let slash = exe.lastIndex(of: "/") else { return nil }
        let path = String(exe[..<slash]) + "/libRingmasterC.so"
        return access(path, R_OK) == 0 ? path : nil
    }()

    static let logFlushNanoseconds: UInt64 = 100_000_000
    /// Log batches wait while this much output is queued for the controller (their batchers then drop).
    static let logBackpressureBytes = 1 << 20
    /// Droppable messages (progress, heartbeats) are dropped past this much queued output.
    static let hardBacklogBytes = 8 << 20

    let options: AgentOptions
    let nodeName: String
    var probe = HostProbe()
    var ranks: [RankRef: RankProcess] = [:]
    var rankByPID: [pid_t: RankRef] = [:]
    var framer = LineFramer()
    var out: [UInt8] = []
    var outStart = 0
    var stdinOpen = true
    var stdoutBroken = false
    var shutdownDeadline: UInt64?
    var heartbeatSequence: UInt64 = 0
    var nextHeartbeat: UInt64 = 0
    var nextLogFlush: UInt64?
    var malformedReports: UInt64 = 0
    var socketCounter = 0
    let stateDirectory: String
    let ownsStateDirectory: Bool
    let sigchldRead: Int32
    let myPID = getpid()
    let defaultPath = POSIX.currentEnvironment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"

    init(options: AgentOptions) {
        self.options = options
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, 255)
        nodeName = options.node ?? stringFromCChars(host)
        if let dir = options.stateDirectory, makeDirectories(dir), dir.utf8.count < 80 {
            stateDirectory = dir
            ownsStateDirectory = false
        } else {
            var template = Array("/tmp/ringmaster-agent-XXXXXX".utf8CString)
            let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) != nil }
            stateDirectory = made ? stringFromCChars(template) : "/tmp"
            ownsStateDirectory = made
        }
        sigchldRead = installSIGCHLDPipe()
    }

    // MARK: Output

    var queuedBytes: Int { out.count - outStart }

    /// Queues `message` for the controller; droppable ones are dropped when the controller is far behind.
    @discardableResult
    func emit(_ message: AgentMessage, droppable: Bool = false) -> Bool {
        if stdoutBroken { return false }
        if droppable, queuedBytes > Self.hardBacklogBytes { return false }
        do {
            out += try AgentWire.encodeLine(message)
        } catch {
            agentLog("cannot encode \(message.typeName): \(error)")
            return false
        }
        flushOutput()
        return true
    }

    func flushOutput() {
        while queuedBytes > 0, !stdoutBroken {
            let n = out[outStart...].withUnsafeBytes { write(1, $0.baseAddress!, $0.count) }
            if n > 0 {
                outStart += n
            } else if n < 0, errno == EINTR {
                continue
            } else if n < 0, errno == EAGAIN || errno == EWOULDBLOCK {
                break
            } else {
                stdoutBroken = true
                beginShutdown(reason: "stdout closed")
            }
        }
        if outStart == out.count {
            out.removeAll(keepingCapacity: out.capacity <= 4 << 20)
            outStart = 0
        } else if outStart > 1 << 20 {
            out.removeFirst(outStart)
            outStart = 0
        }
    }

    // MARK: Run

    func run() -> Never {
        POSIX.setNonBlocking(0)
        POSIX.setNonBlocking(1)
        let hash = (try? POSIX.sha256(ofFile: "/proc/self/exe")) ?? "unknown"
        if let expected = options.expectedBuildHash, expected != hash {
            agentLog("build \(hash) is not the expected \(expected): asking for a deployment")
            POSIX.setNonBlocking(1, false)
            try? POSIX.writeAll(1, Array((AgentOptions.deployMarker + "\n").utf8))
            if ownsStateDirectory { rmdir(stateDirectory) }
            exit(3)
        }
        let discovered = probe.accelerators(options: options, node: nodeName)
        for w in discovered.warnings { agentLog("discovery: \(w)") }
        _ = probe.load()
        emit(
            .hello(
                Hello(
                    buildHash: hash, agentPID: myPID, host: probe.facts(), accelerators: discovered.accelerators,
                    warnings: discovered.warnings)))
        nextHeartbeat = POSIX.monotonicNanoseconds() + heartbeatInterval

        var readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { readBuffer.deallocate() }
        while true {
            if let deadline = shutdownDeadline, ranks.values.allSatisfy(\.exited) || POSIX.monotonicNanoseconds() >= deadline + 2_000_000_000 {
                finish()
            }
            var pollFDs: [pollfd] = []
            if stdinOpen { pollFDs.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
            if queuedBytes > 0, !stdoutBroken { pollFDs.append(pollfd(fd: 1, events: Int16(POLLOUT), revents: 0)) }
            pollFDs.append(pollfd(fd: sigchldRead, events: Int16(POLLIN), revents: 0))
            for r in ranks.values {
                for fd in r.fds where fd >= 0 { pollFDs.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
                if r.controlFD >= 0 { pollFDs.append(pollfd(fd: r.controlFD, events: Int16(POLLIN), revents: 0)) }
            }
            let rc = poll(&pollFDs, nfds_t(pollFDs.count), pollTimeoutMilliseconds())
            if rc < 0, errno != EINTR {
                agentLog("poll failed: \(String(cString: strerror(errno)))")
                beginShutdown(reason: "poll failed")
            }
            if rc > 0 {
                for p in pollFDs where p.revents != 0 {
                    handleReady(fd: p.fd, buffer: &readBuffer)
                }
            }
            reapChildren()
            runTimers()
            flushOutput()
        }
    }

    var heartbeatInterval: UInt64 { UInt64(options.heartbeatMilliseconds) * 1_000_000 }

    func pollTimeoutMilliseconds() -> Int32 {
        let now = POSIX.monotonicNanoseconds()
        var next = nextHeartbeat
        if let f = nextLogFlush { next = min(next, f) }
        if let d = shutdownDeadline { next = min(next, d) }
        for r in ranks.values { if let k = r.killAt { next = min(next, k) } }
        if next <= now { return 0 }
        return Int32(min((next - now) / 1_000_000 + 1, 60_000))
    }

    func handleReady(fd: Int32, buffer: inout UnsafeMutableRawBufferPointer) {
        if fd == 0 {
            readStdin(buffer)
        } else if fd == 1 {
            flushOutput()
        } else if fd == sigchldRead {
            while read(sigchldRead, buffer.baseAddress!, buffer.count) > 0 {}
        } else if let r = ranks.values.first(where: { $0.fds.contains(fd) }) {
            let stream = r.fds[0] == fd ? 0 : 1
            _ = readRankOutput(r, stream: stream, buffer: buffer)
        } else if let r = ranks.values.first(where: { $0.controlFD == fd }) {
            readReports(r, buffer: buffer)
        }
    }

    // MARK: Controller input

    func readStdin(_ buffer: UnsafeMutableRawBufferPointer) {
        let n = read(0, buffer.baseAddress!, buffer.count)
        if n < 0 {
            if errno == EINTR || errno == EAGAIN { return }
            stdinOpen = false
            beginShutdown(reason: "stdin error")
            return
        }
        if n == 0 {
            stdinOpen = false
            beginShutdown(reason: "stdin closed")
            return
        }
        framer.append(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        do {
            while let line = try framer.nextLine() {
                let message: ControllerMessage
                do {
                    message = try AgentWire.decodeControllerMessage(line)
                } catch {
                    protocolViolation("malformed controller message: \(error)")
                    return
                }
                handle(message)
            }
        } catch {
            protocolViolation("\(error)")
        }
    }

    func protocolViolation(_ message: String) {
        agentLog(message)
        emit(.error(ProtocolErrorReport(message: message)))
        stdinOpen = false
        beginShutdown(reason: "protocol violation")
    }

    func handle(_ message: ControllerMessage) {
        switch message {
        case .launch(let request): launch(request)
        case .signal(let request): deliver(request)
        case .ping(let ping): sendHeartbeat(ping: ping.id)
        }
    }

    // MARK: Ranks

    func launch(_ request: LaunchRequest) {
        if shutdownDeadline != nil { return }
        if let existing = ranks[request.rank], !existing.exited {
            emit(.exited(RankExited(rank: request.rank, error: "rank \(request.rank) is already running as pid \(existing.pid)")))
            return
        }
        func fail(_ why: String) {
            agentLog("launch \(request.rank): \(why)")
            emit(.exited(RankExited(rank: request.rank, status: 127, error: why)))
        }
        guard !request.argv.isEmpty else { return fail("empty argv") }
        var env = request.env
        if env["PATH"] == nil { env["PATH"] = defaultPath }
        guard resolveExecutable(request.argv[0], path: env["PATH"], cwd: request.cwd) != nil else {
            return fail("executable not found: \(request.argv[0])")
        }
        if let cwd = request.cwd {
            var st = stat()
            guard stat(cwd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return fail("working directory not found: \(cwd)") }
        }
        guard makeDirectories(request.logDir) else { return fail("cannot create log directory \(request.logDir)") }
        let cap = request.maxLogFileBytes ?? (1 << 30)
        var logFiles: [LogFile] = []
        for stream in ["stdout", "stderr"] {
            let path = "\(request.logDir)/rank-\(request.rank.rank).\(stream)"
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            if fd < 0 { agentLog("cannot open \(path): \(String(cString: strerror(errno)))") }
            logFiles.append(LogFile(fd: fd, cap: cap))
        }
        func closeLogs() { for f in logFiles where f.fd >= 0 { close(f.fd) } }

        socketCounter += 1
        let controlPath = "\(stateDirectory)/a\(myPID)-\(socketCounter).sock"
        let controlFD = makeControlSocket(controlPath)
        if controlFD < 0 { agentLog("cannot bind control socket \(controlPath)") }
        env["RINGMASTER_CONTROL"] = controlPath
        // The C ABI library deployed beside this agent, for Python ranks (`ringmaster.torch.ring_group`).
        if env["RINGMASTER_LIBRARY"] == nil, let library = Self.collectivesLibrary { env["RINGMASTER_LIBRARY"] = library }

        guard let outPipe = try? POSIX.makePipe(), let errPipe = try? POSIX.makePipe() else {
            closeLogs()
            return fail("cannot create pipes")
        }
        let argv = ["/proc/self/exe"] + AgentOptions(mode: .execRank(parentPID: myPID, cwd: request.cwd, argv: request.argv)).arguments
        let pid: pid_t
        do {
            pid = try POSIX.spawn(
                argv, environment: env.map { "\($0.key)=\($0.value)" }.sorted(), stdin: .devNull, stdout: .fd(outPipe.write),
                stderr: .fd(errPipe.write), newProcessGroup: true)
        } catch {
            for fd in [outPipe.read, outPipe.write, errPipe.read, errPipe.write] { close(fd) }
            if controlFD >= 0 {
                close(controlFD)
                unlink(controlPath)
            }
            closeLogs()
            return fail("\(error)")
        }
        close(outPipe.write)
        close(errPipe.write)
        POSIX.setNonBlocking(outPipe.read)
        POSIX.setNonBlocking(errPipe.read)
        let process = RankProcess(
            ref: request.rank, pid: pid, fds: [outPipe.read, errPipe.read], logFiles: logFiles, controlFD: controlFD,
            controlPath: controlPath)
        ranks[request.rank] = process
        rankByPID[pid] = request.rank
        emit(.started(RankStarted(rank: request.rank, pid: pid)))
    }

    func makeControlSocket(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            close(fd)
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
            close(fd)
            return -1
        }
        return fd
    }

    /// Reads what is available on one output pipe: log file, then the bounded batcher. Returns bytes read.
    @discardableResult
    func readRankOutput(_ r: RankProcess, stream: Int, buffer: UnsafeMutableRawBufferPointer) -> Int {
        let fd = r.fds[stream]
        guard fd >= 0 else { return 0 }
        let n = read(fd, buffer.baseAddress!, buffer.count)
        if n < 0 {
            if errno == EINTR || errno == EAGAIN { return 0 }
        }
        if n <= 0 {
            close(fd)
            r.fds[stream] = -1
            return 0
        }
        let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
        r.logFiles[stream].append(chunk)
        r.batchers[stream].ingest(chunk)
        // Batches leave on the 100 ms timer only: at most one batcher's worth (128 KiB) per stream per tick is
        // encoded and forwarded, so a flooding rank costs the agent a disk write and a byte count, and the
        // pipe is drained at disk speed (the log file has everything; the controller gets a dropped count).
        if nextLogFlush == nil {
            nextLogFlush = POSIX.monotonicNanoseconds() + Self.logFlushNanoseconds
        }
        return n
    }

    func flushLogs(_ r: RankProcess, stream: Int, final: Bool) {
        // While the controller is behind, batches wait (and their batchers drop) instead of piling up here.
        guard final || queuedBytes < Self.logBackpressureBytes else {
            if nextLogFlush == nil { nextLogFlush = POSIX.monotonicNanoseconds() + Self.logFlushNanoseconds }
            return
        }
        guard let (lines, dropped) = r.batchers[stream].flush(final: final) else { return }
        emit(.log(LogBatch(rank: r.ref, stream: stream == 0 ? .stdout : .stderr, lines: lines, droppedBytes: dropped)), droppable: true)
    }

    func readReports(_ r: RankProcess, buffer: UnsafeMutableRawBufferPointer) {
        for _ in 0..<64 {
            let n = recv(r.controlFD, buffer.baseAddress!, buffer.count, Int32(MSG_DONTWAIT))
            if n < 0 { return }
            let (reports, malformed) = RankReport.parseDatagram(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            malformedReports += UInt64(malformed)
            for report in reports {
                switch report {
                case .step(let n): emit(.progress(RankProgress(rank: r.ref, step: n)), droppable: true)
                case .metric(let name, let value): emit(.progress(RankProgress(rank: r.ref, metric: name, value: value)), droppable: true)
                case .checkpoint(let n): emit(.checkpoint(CheckpointReport(rank: r.ref, step: n)))
                case .section(let name, let seconds): emit(.section(SectionReport(rank: r.ref, name: name, seconds: seconds)))
                case .sectionEnd: emit(.section(SectionReport(rank: r.ref, name: nil, seconds: nil)))
                }
            }
        }
    }

    func deliver(_ request: SignalRequest) {
        let targets = request.rank.map { ref in ranks[ref].map { [$0] } ?? [] } ?? Array(ranks.values)
        let now = POSIX.monotonicNanoseconds()
        for r in targets where !r.exited {
            kill(-r.pid, request.signal)
            if let grace = request.graceMilliseconds, request.signal != SIGKILL {
                let at = now + UInt64(max(grace, 0)) * 1_000_000
                r.killAt = min(r.killAt ?? at, at)
            }
        }
    }

    func reapChildren() {
        var status: Int32 = 0
        while true {
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { return }
            guard let ref = rankByPID.removeValue(forKey: pid), let r = ranks[ref] else { continue }
            rankExited(r, termination: POSIX.Termination(waitStatus: status))
        }
    }

    func rankExited(_ r: RankProcess, termination: POSIX.Termination) {
        r.exited = true
        r.killAt = nil
        // Whatever the rank wrote before exiting is in its pipes: forward it before `exited`.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { buffer.deallocate() }
        for stream in 0..<2 {
            for _ in 0..<64 where r.fds[stream] >= 0 {
                if readRankOutput(r, stream: stream, buffer: buffer) == 0 { break }
            }
            flushLogs(r, stream: stream, final: true)
            if r.fds[stream] >= 0 {
                close(r.fds[stream])
                r.fds[stream] = -1
            }
            if r.logFiles[stream].fd >= 0 {
                close(r.logFiles[stream].fd)
                r.logFiles[stream].fd = -1
            }
        }
        if r.controlFD >= 0 {
            readReports(r, buffer: buffer)
            close(r.controlFD)
            r.controlFD = -1
            unlink(r.controlPath)
        }
        switch termination {
        case .exited(let code): emit(.exited(RankExited(rank: r.ref, status: code)))
        case .signaled(let sig): emit(.exited(RankExited(rank: r.ref, signal: sig)))
        }
        ranks[r.ref] = nil
    }

    // MARK: Timers

    func runTimers() {
        let now = POSIX.monotonicNanoseconds()
        if let f = nextLogFlush, now >= f {
            nextLogFlush = nil
            for r in ranks.values {
                for s in 0..<2 where !r.batchers[s].isEmpty { flushLogs(r, stream: s, final: false) }
            }
        }
        for r in ranks.values where !r.exited {
            if let k = r.killAt, now >= k {
                r.killAt = nil
                kill(-r.pid, SIGKILL)
            }
        }
        if let d = shutdownDeadline, now >= d {
            for r in ranks.values where !r.exited { kill(-r.pid, SIGKILL) }
        }
        if now >= nextHeartbeat {
            nextHeartbeat = now + heartbeatInterval
            sendHeartbeat(ping: nil)
        }
    }

    func sendHeartbeat(ping: UInt64?) {
        guard shutdownDeadline == nil || ping != nil else { return }
        heartbeatSequence += 1
        let live = ranks.values.filter { !$0.exited }
        let rss = probe.residentBytes(ofGroups: Set(live.map(\.pid)))
        let usage = live.map { RankUsage(rank: $0.ref, pid: $0.pid, rssBytes: rss[$0.pid] ?? 0) }.sorted { $0.rank.rank < $1.rank.rank }
        emit(
            .heartbeat(
                Heartbeat(
                    sequence: heartbeatSequence, load: probe.load(), ranks: usage, agentRSSBytes: probe.ownRSS(),
                    malformedReports: malformedReports, ping: ping)), droppable: ping == nil)
    }

    // MARK: Shutdown

    /// The controller is gone (or broke the protocol): stop every rank, then exit. No orphans.
    func beginShutdown(reason: String) {
        guard shutdownDeadline == nil else { return }
        agentLog("\(reason): stopping \(ranks.values.filter { !$0.exited }.count) rank(s)")
        let now = POSIX.monotonicNanoseconds()
        shutdownDeadline = now + UInt64(options.shutdownGraceMilliseconds) * 1_000_000
        for r in ranks.values where !r.exited { kill(-r.pid, SIGTERM) }
    }

    func finish() -> Never {
        for r in ranks.values where !r.exited {
            kill(-r.pid, SIGKILL)
            _ = POSIX.wait(r.pid)
        }
        if !stdoutBroken {
            POSIX.setNonBlocking(1, false)
            flushOutput()
        }
        if ownsStateDirectory { rmdir(stateDirectory) }
        exit(0)
    }
}
