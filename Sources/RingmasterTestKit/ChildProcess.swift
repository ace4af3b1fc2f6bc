import Foundation

/// A child process with piped stdout/stderr, read line by line without blocking the test's threads.
/// Foundation's `Process` starts children with posix_spawn on Linux.
public final class ChildProcess: @unchecked Sendable {
    public let process = Process()
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    private let lock = NSLock()
    private var lines: [String] = []
    private var partial = Data()
    private var stderrData = Data()
    private var waiters: [(predicate: (String) -> Bool, continuation: CheckedContinuation<String?, Never>)] = []
    private var closed = false

    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        process.standardInput = FileHandle.nullDevice
        stdoutPipe.fileHandleForReading.readabilityHandler = { [weak self] h in self?.consume(h.availableData) }
        stderrPipe.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self else { return }
            if d.isEmpty { h.readabilityHandler = nil }
            self.lock.withLock { self.stderrData.append(d) }
        }
        try process.run()
    }

    private func consume(_ data: Data) {
        var ready: [CheckedContinuation<String?, Never>] = []
        var results: [String?] = []
        lock.withLock {
            if data.isEmpty {
                guard !closed else { return }
                closed = true
                stdoutPipe.fileHandleForReading.readabilityHandler = nil
                ready = waiters.map(\.continuation)
                results = Array(repeating: nil, count: ready.count)
                waiters = []
                return
            }
            partial.append(data)
            while let nl = partial.firstIndex(of: 0x0A) {
                let line = String(decoding: partial[partial.startIndex..<nl], as: UTF8.self)
                partial.removeSubrange(partial.startIndex...nl)
                lines.append(line)
                var remaining: [(predicate: (String) -> Bool, continuation: CheckedContinuation<String?, Never>)] = []
                for w in waiters {
                    if w.predicate(line) {
                        ready.append(w.continuation)
                        results.append(line)
                    } else {
                        remaining.append(w)
                    }
                }
                waiters = remaining
            }
        }
        for (c, r) in zip(ready, results) { c.resume(returning: r) }
    }

    /// Waits for the first stdout line (already read or still to come) matching `predicate`;
    /// nil when stdout closes without one.
    public func line(where predicate: @escaping @Sendable (String) -> Bool) async -> String? {
        await withCheckedContinuation { c in
            let found: String?? = lock.withLock {
                if let l = lines.first(where: predicate) { return .some(l) }
                if closed { return .some(nil) }
                waiters.append((predicate, c))
                return nil
            }
            if let found { c.resume(returning: found) }
        }
    }

    public var outputLines: [String] { lock.withLock { lines } }
    public var standardError: String { lock.withLock { String(decoding: stderrData, as: UTF8.self) } }

    public func kill(_ signal: Int32) { Foundation.kill(process.processIdentifier, signal) }

    /// Waits for exit on a background thread (never in the cooperative pool), then reads what is left of
    /// stdout and marks it closed, so `line(where:)` returns nil instead of waiting for an end-of-file
    /// the readability handler may never report.
    public func exit() async -> Int32 {
        await withCheckedContinuation { c in
            Thread.detachNewThread { [self] in
                process.waitUntilExit()
                let handle = stdoutPipe.fileHandleForReading
                handle.readabilityHandler = nil
                let rest = (try? handle.readToEnd()) ?? Data()
                if !rest.isEmpty { consume(rest) }
                consume(Data())
                c.resume(returning: process.terminationStatus)
            }
        }
    }
}
