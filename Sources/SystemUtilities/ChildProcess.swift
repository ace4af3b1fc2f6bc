import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A child process started with posix_spawn, reaped by a thread of its own, its stdout read line by line
/// and its stderr as text (when captured) by another, so nothing blocks the caller or the cooperative pool.
///
/// Waiting ends with the child, not with end-of-file on its pipes: once the child has exited, what it left
/// in the pipes is read and the output is complete, even while a grandchild still holds them open.
/// Released while the child still runs, it kills the child (SIGKILL): a test that fails half-way leaves
/// nothing behind.
public final class ChildProcess: Sendable {
    /// Where the child's stdout or stderr goes.
    public enum Output: Sendable, Hashable {
        /// Read through a pipe: `outputLines`/`standardOutput`, or `standardError`.
        case capture
        case inherit
        case discard
        /// Appended to this file (created with mode 0644 when missing).
        case appendTo(String)
        /// For stderr: wherever stdout goes (one stream, in the order written).
        case stdout
    }

    public let pid: pid_t
    public let argv: [String]
    private let state: ChildProcessState

    /// Starts `argv` (looked up on PATH when it has no slash) with stdin on /dev/null. `environment` nil
    /// inherits this process's.
    public init(
        _ argv: [String], environment: [String: String]? = nil, stdout: Output = .capture, stderr: Output = .capture,
        newProcessGroup: Bool = false
    ) throws(POSIX.Error) {
        precondition(stdout != .stdout, "stdout cannot go to stdout")
        var pipes: [ChildProcessReader.Pipe] = []  // our read ends
        var childEnds: [Int32] = []  // the child's ends: closed here once it has them
        defer { childEnds.forEach { close($0) } }
        func connect(_ output: Output, isStdout: Bool) throws(POSIX.Error) -> POSIX.ChildIO {
            switch output {
            case .capture:
                let p = try POSIX.makePipe()
                pipes.append(.init(fd: p.read, isStdout: isStdout))
                childEnds.append(p.write)
                return .fd(p.write)
            case .inherit: return .inherit
            case .discard: return .devNull
            case .appendTo(let path):
                let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw POSIX.Error("open \(path)", errno: errno) }
                childEnds.append(fd)
                return .fd(fd)
            case .stdout: preconditionFailure()
            }
        }
        var wake: (read: Int32, write: Int32)?
        do throws(POSIX.Error) {
            let out = try connect(stdout, isStdout: true)
            let err = stderr == .stdout ? out : try connect(stderr, isStdout: false)
            if !pipes.isEmpty { wake = try POSIX.makePipe() }
            pid = try POSIX.spawn(
                argv, environment: environment.map { $0.map { "\($0.key)=\($0.value)" } }, stdin: .devNull, stdout: out,
                stderr: err, newProcessGroup: newProcessGroup)
        } catch {
            (pipes.map(\.fd) + [wake?.read ?? -1, wake?.write ?? -1]).filter { $0 >= 0 }.forEach { close($0) }
            throw error
        }
        self.argv = argv
        let wakePipe = wake
        let state = ChildProcessState(reading: !pipes.isEmpty)
        self.state = state
        let pid = self.pid
        let name = argv[0].split(separator: "/").last.map(String.init) ?? "child"
        runOnDedicatedThread(name: "wait \(name)") {
            _ = POSIX.waitUntilEnded(pid)
            state.ending()
            state.reaped(POSIX.wait(pid))
            if let wakePipe { close(wakePipe.write) }  // the reader sees end-of-file on it: the child has ended
        }
        if let wake = wakePipe {
            let reader = ChildProcessReader(pipes: pipes, wake: wake.read, state: state)
            runOnDedicatedThread(name: "read \(name)") { reader.run() }
        }
    }

    deinit { state.signal(SIGKILL, pid) }

    /// Sends `signal` unless the child has already ended.
    public func signal(_ signal: Int32) { state.signal(signal, pid) }

    /// The first stdout line (already read or still to come) matching `predicate`, or its `occurrence`-th
    /// match; nil when stdout ends without it.
    public func line(where predicate: @escaping @Sendable (String) -> Bool, occurrence: Int = 1) async -> String? {
        await state.line(where: predicate, occurrence: occurrence)
    }

    /// Waits for the child to end and its output to be read; returns its status (the exit code, or
    /// 128 + the signal that killed it; -1 if it could not be waited for).
    @discardableResult
    public func exit() async -> Int32 { await state.ended()?.exitStatus ?? -1 }

    /// How it ended; nil while it runs (or when it could not be waited for).
    public var termination: POSIX.Termination? { state.termination }

    /// Complete stdout lines so far (and a last line without a newline once the output has ended).
    public var outputLines: [String] { state.lines }
    public var standardOutput: String { state.standardOutput }
    public var standardError: String { state.standardError }
}

/// What the reaper and reader threads share with the `ChildProcess` (which may be released first).
final class ChildProcessState: Sendable {
    fileprivate struct LineWaiter {
        var predicate: @Sendable (String) -> Bool
        var remaining: Int
        var continuation: CheckedContinuation<String?, Never>
    }

    fileprivate struct State {
        var reading: Bool
        var ending = false
        var termination: POSIX.Termination??
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var partial: [UInt8] = []
        var lines: [String] = []
        var stdoutEnded: Bool
        var lineWaiters: [LineWaiter] = []
        var endWaiters: [CheckedContinuation<POSIX.Termination?, Never>] = []
        var done: Bool { termination != nil && !reading }
    }

    private let state: Mutex<State>

    /// `reading`: some output is captured (else there are no lines to wait for).
    init(reading: Bool) { state = Mutex(State(reading: reading, stdoutEnded: !reading)) }

    /// The child has ended (not yet reaped): from now on no signal is sent to its pid.
    func ending() { state.withLock { $0.ending = true } }

    func signal(_ signal: Int32, _ pid: pid_t) {
        state.withLock { s in
            if !s.ending { kill(pid, signal) }
        }
    }

    func reaped(_ termination: POSIX.Termination?) {
        let ready = state.withLock { s -> [CheckedContinuation<POSIX.Termination?, Never>] in
            s.ending = true
            s.termination = .some(termination)
            return s.done ? s.takeEndWaiters() : []
        }
        ready.forEach { $0.resume(returning: termination) }
    }

    func stdout(_ bytes: ArraySlice<UInt8>) {
        let ready = state.withLock { s -> [(CheckedContinuation<String?, Never>, String)] in
            s.stdout += bytes
            s.partial += bytes
            var ready: [(CheckedContinuation<String?, Never>, String)] = []
            while let nl = s.partial.firstIndex(of: 10) {
                ready += s.add(String(decoding: s.partial[..<nl], as: UTF8.self))
                s.partial.removeSubrange(...nl)
            }
            return ready
        }
        ready.forEach { $0.0.resume(returning: $0.1) }
    }

    func stderr(_ bytes: ArraySlice<UInt8>) { state.withLock { $0.stderr += bytes } }

    /// Stdout reached its end (or the child's end): waiting lines resolve now.
    func stdoutEnded() {
        let (found, missing) = state.withLock { s -> ([(CheckedContinuation<String?, Never>, String)], [CheckedContinuation<String?, Never>]) in
            guard !s.stdoutEnded else { return ([], []) }
            var found: [(CheckedContinuation<String?, Never>, String)] = []
            if !s.partial.isEmpty {
                found = s.add(String(decoding: s.partial, as: UTF8.self))
                s.partial = []
            }
            s.stdoutEnded = true
            defer { s.lineWaiters = [] }
            return (found, s.lineWaiters.map(\.continuation))
        }
        found.forEach { $0.0.resume(returning: $0.1) }
        missing.forEach { $0.resume(returning: nil) }
    }

    /// The reader is done: the output is complete.
    func outputEnded() {
        stdoutEnded()
        let (ready, termination) = state.withLock { s -> ([CheckedContinuation<POSIX.Termination?, Never>], POSIX.Termination?) in
            s.reading = false
            return (s.done ? s.takeEndWaiters() : [], s.termination ?? nil)
        }
        ready.forEach { $0.resume(returning: termination) }
    }

    func line(where predicate: @escaping @Sendable (String) -> Bool, occurrence: Int) async -> String? {
        await withCheckedContinuation { c in
            let found: String?? = state.withLock { s in
                let matches = s.lines.lazy.filter(predicate)
                var seen = 0
                for line in matches {
                    seen += 1
                    if seen == occurrence { return .some(line) }
                }
                if s.stdoutEnded { return .some(nil) }
                s.lineWaiters.append(LineWaiter(predicate: predicate, remaining: occurrence - seen, continuation: c))
                return nil
            }
            if let found { c.resume(returning: found) }
        }
    }

    func ended() async -> POSIX.Termination? {
        await withCheckedContinuation { c in
            let done: POSIX.Termination?? = state.withLock { s in
                if s.done { return .some(s.termination ?? nil) }
                s.endWaiters.append(c)
                return nil
            }
            if let done { c.resume(returning: done) }
        }
    }

    var termination: POSIX.Termination? { state.withLock { $0.termination ?? nil } }
    var lines: [String] { state.withLock { $0.lines } }
    var standardOutput: String { state.withLock { String(decoding: $0.stdout, as: UTF8.self) } }
    var standardError: String { state.withLock { String(decoding: $0.stderr, as: UTF8.self) } }
}

extension ChildProcessState.State {
    /// Records a line; returns the waiters it completes.
    fileprivate mutating func add(_ line: String) -> [(CheckedContinuation<String?, Never>, String)] {
        lines.append(line)
        var ready: [(CheckedContinuation<String?, Never>, String)] = []
        lineWaiters = lineWaiters.compactMap { w in
            guard w.predicate(line) else { return w }
            var w = w
            w.remaining -= 1
            if w.remaining > 0 { return w }
            ready.append((w.continuation, line))
            return nil
        }
        return ready
    }

    fileprivate mutating func takeEndWaiters() -> [CheckedContinuation<POSIX.Termination?, Never>] {
        defer { endWaiters = [] }
        return endWaiters
    }
}
