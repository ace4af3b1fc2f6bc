import AgentProtocol
import Foundation
import RingmasterModel
import Synchronization
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// Local mode: each node is a `ringmaster-agent --stdio` child process of the controller, spoken to over
/// pipes (for `local: N` inventories; no sshd needed).
public struct LocalAgentTransport: AgentTransport {
    public var agentExecutable: String
    public var agentBuildHash: String
    /// Receives the agents' own log lines (stderr); nil drops them.
    public var stderrSink: (@Sendable (NodeID, String) -> Void)?
    public var shutdownGraceMilliseconds: Int?

    public init(
        agentExecutable: String, stderrSink: (@Sendable (NodeID, String) -> Void)? = nil, shutdownGraceMilliseconds: Int? = nil
    ) throws {
        self.agentExecutable = agentExecutable
        agentBuildHash = try POSIX.sha256(ofFile: agentExecutable)
        self.stderrSink = stderrSink
        self.shutdownGraceMilliseconds = shutdownGraceMilliseconds
    }

    public func open(
        node: NodeEntry, inventory: ClusterInventory, handler: @escaping @Sendable (AgentChannelEvent) -> Void
    ) async throws -> any AgentChannel {
        let options = AgentLaunchSettings.options(for: node, inventory: inventory, shutdownGraceMilliseconds: shutdownGraceMilliseconds)
        // An agent whose stdin closes stops its ranks (SIGTERM, SIGKILL after the grace) and exits within its
        // exit bound (2 s); one that has not after that and 10 s more (a loaded host) is killed.
        let grace = Duration.milliseconds(options.shutdownGraceMilliseconds)
        return try PipeAgentChannel.spawn(
            [agentExecutable] + options.arguments, node: node.id, exitLimit: grace + .seconds(12), expectedBuildHash: agentBuildHash,
            stderrSink: stderrSink, handler: handler)
    }
}

extension PipeAgentChannel {
    /// Starts `argv` — the agent, or a launcher that runs it elsewhere with stdin/stdout carried (`srun`) —
    /// in a process group of its own, and speaks the agent protocol over its stdin/stdout. Once the channel has
    /// closed, `argv` may take `exitLimit` to exit before its process group is killed.
    package static func spawn(
        _ argv: [String], node: NodeID, exitLimit: Duration, expectedBuildHash: String?,
        stderrSink: (@Sendable (NodeID, String) -> Void)?, handler: @escaping @Sendable (AgentChannelEvent) -> Void
    ) throws -> PipeAgentChannel {
        POSIX.ignoreSIGPIPE()
        let stdinPipe = try POSIX.makePipe()
        let stdoutPipe = try POSIX.makePipe()
        let stderrPipe = try POSIX.makePipe()
        let pid: pid_t
        do {
            pid = try POSIX.spawn(
                argv, stdin: .fd(stdinPipe.read), stdout: .fd(stdoutPipe.write),
                stderr: .fd(stderrPipe.write), newProcessGroup: true)
        } catch {
            for fd in [stdinPipe.read, stdinPipe.write, stdoutPipe.read, stdoutPipe.write, stderrPipe.read, stderrPipe.write] {
                Glibc.close(fd)
            }
            throw error
        }
        Glibc.close(stdinPipe.read)
        Glibc.close(stdoutPipe.write)
        Glibc.close(stderrPipe.write)
        let channel = PipeAgentChannel(pid: pid, stdin: stdinPipe.write, node: node, exitLimit: exitLimit)
        channel.startIO(
            stdout: stdoutPipe.read, stderr: stderrPipe.read, expectedBuildHash: expectedBuildHash, stderrSink: stderrSink,
            handler: handler)
        return channel
    }
}

/// A channel over the pipes of a local agent process: one writer thread, one reader thread, one stderr thread.
package final class PipeAgentChannel: AgentChannel {
    private struct WriterState {
        var queue: [[UInt8]] = []
        var closed = false
        var ended = false
    }

    package let pid: pid_t
    let node: NodeID
    /// How long the agent may take to exit once its channel has closed before it is killed.
    let exitLimit: Duration
    private let stdinFD: Int32
    private let writer = Mutex(WriterState())
    private let writerWake = DispatchSemaphore(value: 0)

    init(pid: pid_t, stdin: Int32, node: NodeID, exitLimit: Duration) {
        self.pid = pid
        stdinFD = stdin
        self.node = node
        self.exitLimit = exitLimit
    }

    package func send(_ message: ControllerMessage) -> Bool {
        guard let line = try? AgentWire.encodeLine(message) else { return false }
        let ok = writer.withLock { w -> Bool in
            guard !w.closed, !w.ended else { return false }
            w.queue.append(line)
            return true
        }
        if ok { writerWake.signal() }
        return ok
    }

    package func close() {
        requestedByController.withLock { $0 = true }
        shutdownWriter()
    }

    private let requestedByController = Mutex(false)
    private let endReason = Mutex<String?>(nil)

    /// Ends the channel from outside the protocol (its node is known to be gone): kills the process group
    /// (SIGKILL); the channel then closes with `reason`.
    package func end(reason: String) {
        endReason.withLock { $0 = $0 ?? reason }
        killUnlessReaped()
    }

    /// Set once the agent has been reaped: its pid may then be another process's.
    private let reaped = Mutex(false)

    private func killUnlessReaped() {
        reaped.withLock { if !$0 { _ = kill(-pid, SIGKILL) } }
    }

    private func shutdownWriter() {
        writer.withLock { $0.closed = true }
        writerWake.signal()
    }

    func startIO(
        stdout: Int32, stderr: Int32, expectedBuildHash: String?, stderrSink: (@Sendable (NodeID, String) -> Void)?,
        handler: @escaping @Sendable (AgentChannelEvent) -> Void
    ) {
        let tail = Mutex(StderrTail())
        let stderrDone = DispatchSemaphore(value: 0)
        runOnDedicatedThread(name: "agent \(node) writer") { [self] in writerLoop() }
        runOnDedicatedThread(name: "agent \(node) stderr") { [node] in
            var buf = [UInt8](repeating: 0, count: 8192)
            var partial: [UInt8] = []
            while true {
                let n = buf.withUnsafeMutableBytes { read(stderr, $0.baseAddress!, $0.count) }
                if n < 0, errno == EINTR { continue }
                if n <= 0 { break }
                let chunk = Array(buf[0..<n])
                tail.withLock { $0.append(chunk) }
                if let stderrSink {
                    partial += chunk
                    while let nl = partial.firstIndex(of: 10) {
                        stderrSink(node, String(decoding: partial[..<nl], as: UTF8.self))
                        partial.removeSubrange(...nl)
                    }
                    if partial.count > 8192 { partial.removeAll() }
                }
            }
            Glibc.close(stderr)
            stderrDone.signal()
        }
        runOnDedicatedThread(name: "agent \(node) reader") { [self] in
            var decoder = AgentStreamDecoder()
            decoder.expectedBuildHash = expectedBuildHash
            var buf = [UInt8](repeating: 0, count: 65536)
            var readError: String?
            while decoder.violation == nil {
                let n = buf.withUnsafeMutableBytes { read(stdout, $0.baseAddress!, $0.count) }
                if n < 0, errno == EINTR { continue }
                if n < 0 {
                    readError = String(cString: strerror(errno))
                    break
                }
                if n == 0 { break }
                for m in decoder.feed(buf[0..<n]) { handler(.message(m)) }
            }
            Glibc.close(stdout)
            // Make sure the agent sees its stdin end (it then stops its ranks and exits).
            shutdownWriter()
            let reason: ChannelCloseReason
            if let v = decoder.violation {
                reason = .protocolViolation(v)
            } else if let ended = endReason.withLock({ $0 }) {
                reason = .endOfStream(ended)
            } else if let readError {
                reason = .transportError(readError)
            } else if requestedByController.withLock({ $0 }) {
                reason = .closedByController
            } else {
                // Give the stderr thread a moment to collect the agent's last words for the reason.
                _ = stderrDone.wait(timeout: .now() + .milliseconds(200))
                reason = .endOfStream(tail.withLock { $0.summary })
            }
            handler(.closed(reason))
            reap()
        }
    }

    /// Reaps the agent the moment it ends. One that has not ended `exitLimit` after its channel closed (it broke
    /// the protocol, or hangs) is killed with its process group: no agent process outlives its channel. The
    /// agent is waited for without reaping first (`waitUntilEnded`), so the kill never reaches a reused pid.
    private func reap() {
        let limit = exitLimit.seconds
        runOnDedicatedThread(name: "agent \(node) exit limit") { [self] in
            let now = { Double(POSIX.monotonicNanoseconds()) / 1e9 }
            let deadline = now() + limit
            while now() < deadline, !reaped.withLock({ $0 }) { usleep(100_000) }
            killUnlessReaped()
        }
        _ = POSIX.waitUntilEnded(pid)
        reaped.withLock {
            $0 = true
            _ = POSIX.wait(pid)
        }
    }

    private func writerLoop() {
        while true {
            writerWake.wait()
            let (batch, closed) = writer.withLock { w -> ([[UInt8]], Bool) in
                let b = w.queue
                w.queue.removeAll()
                return (b, w.closed)
            }
            var failed = false
            for line in batch where !failed {
                failed = (try? POSIX.writeAll(stdinFD, line)) == nil
            }
            if closed || failed {
                writer.withLock { $0.ended = true }
                Glibc.close(stdinFD)
                return
            }
        }
    }
}
