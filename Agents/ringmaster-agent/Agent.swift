import AgentCore
import AgentProtocol
import RingmasterModel
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// The agent's shell: one thread, one poll loop over stdin, stdout, the rank pipes, the rank report sockets
/// and the SIGCHLD self-pipe. It reads, hands what it read to the `AgentCore` with the monotonic time, and
/// performs the core's actions; it decides nothing. Nothing here blocks except short local-disk writes.
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

    let options: AgentOptions
    let nodeName: String
    var probe = HostProbe()
    var core: AgentCore
    var ranks: [RankRef: RankIO] = [:]
    var rankByPID: [pid_t: RankRef] = [:]
    /// Interpreters waiting for a launch, by pid.
    var warm: [pid_t: WarmInterpreter] = [:]
    /// Encoded messages not yet written to stdout, from `outStart` on.
    var out: [UInt8] = []
    var outStart = 0
    var stdoutBroken = false
    /// The backlog the core was last told about.
    var reportedBacklog = 0
    /// Inputs waiting for the core (an action's outcome, a write failure), handled in order.
    var inputs: [AgentInput] = []
    var feeding = false
    let stateDirectory: String
    let ownsStateDirectory: Bool
    let sigchldRead: Int32
    let myPID = getpid()
    let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)

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
        core = AgentCore(
            configuration: AgentConfiguration(
                heartbeatInterval: .milliseconds(options.heartbeatMilliseconds),
                shutdownGrace: .milliseconds(options.shutdownGraceMilliseconds),
                defaultPath: POSIX.currentEnvironment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
                collectivesLibrary: Self.collectivesLibrary, stateDirectory: stateDirectory, agentPID: myPID,
                controllerSilenceLimit: options.controllerSilenceMilliseconds.map { .milliseconds($0) },
                reportBatchInterval: options.reportBatchMilliseconds.map { .milliseconds($0) }))
    }

    static func now() -> Duration { .nanoseconds(Int64(POSIX.monotonicNanoseconds())) }

    // MARK: The core

    /// Hands `input` to the core and performs its actions, then any inputs those actions produced.
    func feed(_ input: AgentInput) {
        inputs.append(input)
        guard !feeding else { return }
        feeding = true
        defer { feeding = false }
        while !inputs.isEmpty {
            let next = inputs.removeFirst()
            if queuedBytes != reportedBacklog {
                reportedBacklog = queuedBytes
                perform(core.handle(.outputBacklog(bytes: reportedBacklog), now: Self.now()))
            }
            perform(core.handle(next, now: Self.now()))
        }
    }

    func perform(_ actions: [AgentAction]) {
        for action in actions {
            switch action {
            case .send(let message):
                emit(message)
            case .sendHeartbeat(let plan):
                let rss = probe.residentBytes(ofGroups: Set(plan.ranks.map(\.pid)))
                emit(.heartbeat(plan.heartbeat(load: probe.load(), rssBytes: rss, agentRSSBytes: probe.ownRSS())))
            case .spawn(let spawn):
                let interpreter = spawn.warmPID.flatMap { warm.removeValue(forKey: $0) }
                let started = interpreter.map { RankIO.start(spawn, into: $0, agentPID: myPID) } ?? RankIO.start(spawn, agentPID: myPID)
                switch started {
                case .success(let rank):
                    ranks[rank.ref] = rank
                    rankByPID[rank.pid] = rank.ref
                    feed(.spawned(rank.ref, pid: rank.pid))
                    // What the interpreter wrote while it waited is the rank's first output.
                    if let interpreter, interpreter.pid == rank.pid {
                        for stream in 0..<2 where !interpreter.early[stream].isEmpty {
                            feed(.rankOutput(rank.ref, RankIO.streams[stream], interpreter.early[stream]))
                        }
                    }
                case .failure(let failure):
                    feed(.spawnFailed(spawn.request.rank, reason: failure.reason))
                }
            case .startWarm(let spec):
                switch WarmInterpreter.start(spec, agentPID: myPID, defaultPath: core.configuration.defaultPath) {
                case .success(let interpreter):
                    warm[interpreter.pid] = interpreter
                    feed(.warmStarted(spec, pid: interpreter.pid))
                case .failure(let failure):
                    feed(.warmStartFailed(spec, reason: failure.reason))
                }
            case .signalGroup(let pid, let signal):
                kill(-pid, signal)
            case .relay(let ref, let line):
                if ranks[ref]?.relay(line) != true { agentLog("\(line) for \(ref) not delivered: the rank has no report address") }
            case .rekey(let old, let new):
                if let rank = ranks.removeValue(forKey: old) {
                    rank.ref = new
                    ranks[new] = rank
                    rankByPID[rank.pid] = new
                }
            case .closeRank(let ref):
                ranks.removeValue(forKey: ref)?.close()
            case .log(let line):
                agentLog(line)
            case .exit(let pids):
                finish(awaiting: pids)
            }
        }
    }

    // MARK: Output

    var queuedBytes: Int { out.count - outStart }

    func emit(_ message: AgentMessage) {
        if stdoutBroken { return }
        do {
            out += try AgentWire.encodeLine(message)
        } catch {
            agentLog("cannot encode \(message.typeName): \(error)")
            return
        }
        flushOutput()
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
                feed(.controllerUnwritable)
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
        // Remembered beside the file (BuildHashStamp): a start with the agent current reads no 24 MB, nor the
        // start right after the controller uploaded this build.
        let hash: String
        if options.justUploaded, let expected = options.expectedBuildHash {
            BuildHashStamp.record(expected, forFile: "/proc/self/exe")
            hash = expected
        } else {
            hash = (try? BuildHashStamp.sha256(ofFile: "/proc/self/exe").hash) ?? "unknown"
        }
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
        feed(
            .begin(
                Hello(
                    buildHash: hash, agentPID: myPID, host: probe.facts(), accelerators: discovered.accelerators,
                    warnings: discovered.warnings)))

        while true {
            var pollFDs: [pollfd] = []
            if core.readsController { pollFDs.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
            if queuedBytes > 0, !stdoutBroken { pollFDs.append(pollfd(fd: 1, events: Int16(POLLOUT), revents: 0)) }
            pollFDs.append(pollfd(fd: sigchldRead, events: Int16(POLLIN), revents: 0))
            for r in ranks.values {
                for fd in r.fds where fd >= 0 { pollFDs.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
                if r.controlFD >= 0 { pollFDs.append(pollfd(fd: r.controlFD, events: Int16(POLLIN), revents: 0)) }
            }
            for w in warm.values {
                for fd in w.fds where fd >= 0 { pollFDs.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
                if !w.ready, w.launchFD >= 0 { pollFDs.append(pollfd(fd: w.launchFD, events: Int16(POLLIN), revents: 0)) }
            }
            let rc = poll(&pollFDs, nfds_t(pollFDs.count), pollTimeoutMilliseconds())
            if rc < 0, errno != EINTR {
                agentLog("poll failed: \(String(cString: strerror(errno)))")
                feed(.stop(reason: "poll failed"))
            }
            if rc > 0 {
                for p in pollFDs where p.revents != 0 { handleReady(fd: p.fd) }
            }
            reapChildren()
            feed(.tick)
            flushOutput()
        }
    }

    func pollTimeoutMilliseconds() -> Int32 {
        guard let wake = core.nextWake else { return 60_000 }
        let now = Self.now()
        if wake <= now { return 0 }
        let (seconds, attoseconds) = (wake - now).components
        return Int32(min(seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1, 60_000))
    }

    func handleReady(fd: Int32) {
        if fd == 0 {
            readStdin()
        } else if fd == 1 {
            flushOutput()
        } else if fd == sigchldRead {
            while read(sigchldRead, readBuffer.baseAddress!, readBuffer.count) > 0 {}
        } else if let r = ranks.values.first(where: { $0.fds.contains(fd) }) {
            let stream = r.fds[0] == fd ? 0 : 1
            let chunk = r.readOutput(stream: stream, buffer: readBuffer)
            if !chunk.isEmpty { feed(.rankOutput(r.ref, RankIO.streams[stream], Array(chunk))) }
        } else if let r = ranks.values.first(where: { $0.controlFD == fd }) {
            for datagram in r.readReports(buffer: readBuffer) { feed(.rankReport(r.ref, datagram: datagram)) }
        } else if let w = warm.values.first(where: { $0.fds.contains(fd) }) {
            _ = w.readOutput(stream: w.fds[0] == fd ? 0 : 1, buffer: readBuffer)
        } else if let w = warm.values.first(where: { $0.launchFD == fd }) {
            if w.readReady() { feed(.warmReady(pid: w.pid)) }
        }
    }

    func readStdin() {
        let n = read(0, readBuffer.baseAddress!, readBuffer.count)
        if n < 0 {
            if errno == EINTR || errno == EAGAIN { return }
            feed(.controllerClosed(reason: "stdin error"))
        } else if n == 0 {
            feed(.controllerClosed(reason: "stdin closed"))
        } else {
            feed(.controllerBytes(Array(UnsafeRawBufferPointer(rebasing: readBuffer[0..<n]))))
        }
    }

    func reapChildren() {
        var status: Int32 = 0
        while true {
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { return }
            if let w = warm.removeValue(forKey: pid) {
                for stream in 0..<2 {
                    for _ in 0..<64 where w.readOutput(stream: stream, buffer: readBuffer) {}
                }
                w.close()
                feed(.warmExited(pid: pid, POSIX.Termination(waitStatus: status), output: w.outputTail))
                continue
            }
            guard let ref = rankByPID.removeValue(forKey: pid), let r = ranks[ref] else { continue }
            // Whatever the rank wrote before exiting is in its pipes and its socket: it goes before `exited`.
            for stream in 0..<2 {
                for _ in 0..<64 where r.fds[stream] >= 0 {
                    let chunk = r.readOutput(stream: stream, buffer: readBuffer)
                    if chunk.isEmpty { break }
                    feed(.rankOutput(ref, RankIO.streams[stream], Array(chunk)))
                }
            }
            feed(.rankExited(ref, POSIX.Termination(waitStatus: status), finalReports: r.readReports(buffer: readBuffer)))
        }
    }

    // MARK: Exit

    func finish(awaiting pids: [Int32]) -> Never {
        for pid in pids { _ = POSIX.wait(pid) }
        for r in ranks.values { r.close() }
        for w in warm.values { w.close() }
        flushBeforeExit(within: core.configuration.exitBound)
        if ownsStateDirectory { rmdir(stateDirectory) }
        exit(0)
    }

    /// Writes out what is queued for the controller, waiting at most `bound` for the channel to take it: a
    /// channel cut off by the network (sshd no longer reading) must not keep the agent from exiting.
    func flushBeforeExit(within bound: Duration) {
        let deadline = Self.now() + bound
        while queuedBytes > 0, !stdoutBroken {
            flushOutput()
            let left = deadline - Self.now()
            guard queuedBytes > 0, !stdoutBroken, left > .zero else { break }
            var p = pollfd(fd: 1, events: Int16(POLLOUT), revents: 0)
            _ = poll(&p, 1, Int32(min(left.seconds * 1000 + 1, 60_000)))
        }
        if queuedBytes > 0, !stdoutBroken { agentLog("exiting with \(queuedBytes) bytes the controller did not read") }
    }
}
