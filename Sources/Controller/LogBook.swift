import ControllerAPI
import Foundation
import RingmasterModel
import Synchronization

/// The controller's copy of every rank's streamed output: one file per rank and attempt under the state
/// directory, and live followers (`logs -f`). Lines a follower asks for are the file's tail, then every
/// new line until the job's attempt ends.
public final class LogBook: Sendable {
    let directory: StateDirectory

    struct Follower {
        var job: JobID
        var rank: Int?
        var continuation: AsyncStream<String>.Continuation
    }

    struct State {
        var files: [String: FileHandle] = [:]
        var followers: [UInt64: Follower] = [:]
        var nextID: UInt64 = 0
        /// Jobs whose attempt is live: followers of other jobs get the tail and end.
        var live: [JobID: Int] = [:]
        var closed = false
        /// Lines that could not be written to their file (a full disk) since `takeFailedLines`, and why.
        var failedLines = 0
        var lastFailure: String?
    }

    private let state = Mutex(State())

    public init(directory: StateDirectory) { self.directory = directory }

    func path(job: JobID, attempt: Int, rank: Int) -> String {
        "\(directory.logDirectory(job: job.rawValue, attempt: attempt))/rank-\(rank).log"
    }

    /// A new attempt of `job` starts streaming.
    func attemptStarted(job: JobID, attempt: Int) {
        try? FileManager.default.createDirectory(
            atPath: directory.logDirectory(job: job.rawValue, attempt: attempt), withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        state.withLock { $0.live[job] = attempt }
    }

    /// Appends a rank's lines to its file and hands them to the job's followers. The followers are chosen
    /// under the lock, with the file write (a follower that subscribes later finds the lines in the file's
    /// tail instead), and handed the lines outside it: a yield resumes the follower's task, whose cancellation
    /// (its client gone) holds that task's status lock while the termination handler waits for this lock.
    /// One thread appends (the runner loop), so every follower still gets its lines in order.
    func append(job: JobID, attempt: Int, rank: Int, lines: [String]) {
        guard !lines.isEmpty else { return }
        let file = path(job: job, attempt: attempt, rank: rank)
        let text = lines.joined(separator: "\n") + "\n"
        let receivers = state.withLock { s -> [Follower] in
            if s.files[file] == nil {
                if !FileManager.default.fileExists(atPath: file) {
                    _ = FileManager.default.createFile(atPath: file, contents: nil, attributes: [.posixPermissions: 0o600])
                }
                s.files[file] = FileHandle(forWritingAtPath: file)
                _ = try? s.files[file]?.seekToEnd()
            }
            do {
                guard let handle = s.files[file] else { throw POSIXError(.ENOENT) }
                try handle.write(contentsOf: Data(text.utf8))
            } catch {
                // Followers still get the lines; the file misses them (counted, reported by the runner loop).
                s.failedLines += lines.count
                s.lastFailure = "\(file): \(Self.reason(error))"
            }
            return s.followers.values.filter { $0.job == job && ($0.rank == nil || $0.rank == rank) }
        }
        for f in receivers {
            for line in lines { f.continuation.yield(Self.format(line, rank: rank, filtered: f.rank != nil)) }
        }
    }

    /// Lines that could not be written since the last call (and forgets them).
    func takeFailedLines() -> Int {
        state.withLock { s in
            defer { s.failedLines = 0 }
            return s.failedLines
        }
    }

    /// Why the newest line that could not be written was not.
    var lastFailure: String? { state.withLock { $0.lastFailure } }

    static func reason(_ error: any Error) -> String {
        if let posix = error as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return ns.localizedDescription
    }

    /// The attempt ended: its files are closed and its followers finish.
    func attemptEnded(job: JobID, attempt: Int) {
        // Followers finish outside the lock: finishing runs onTermination, which takes it.
        let ending = state.withLock { s -> [Follower] in
            let prefix = directory.logDirectory(job: job.rawValue, attempt: attempt) + "/"
            for (path, handle) in s.files where path.hasPrefix(prefix) {
                try? handle.close()
                s.files[path] = nil
            }
            if s.live[job] == attempt { s.live[job] = nil }
            let ids = s.followers.filter { $0.value.job == job }.map(\.key)
            return ids.compactMap { s.followers.removeValue(forKey: $0) }
        }
        for f in ending { f.continuation.finish() }
    }

    /// Ends every follower (controller shutdown).
    func close() {
        let ending = state.withLock { s -> [Follower] in
            s.closed = true
            for h in s.files.values { try? h.close() }
            s.files.removeAll()
            defer { s.followers.removeAll() }
            return Array(s.followers.values)
        }
        for f in ending { f.continuation.finish() }
    }

    /// The last `tail` lines of the attempt's ranks (all, or one), then, when `follow` and the attempt is
    /// live, every new line until it ends. Lines of all ranks carry a `[rank R]` prefix.
    public func lines(job: JobID, attempt: Int, rank: Int?, tail: Int, follow: Bool) -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(100_000))
        state.withLock { s in
            // Under the lock, so no line is both in the tail and streamed, or in neither.
            for (r, line) in tailLines(job: job, attempt: attempt, rank: rank, count: tail) {
                continuation.yield(Self.format(line, rank: r, filtered: rank != nil))
            }
            guard follow, !s.closed, s.live[job] == attempt else {
                continuation.finish()
                return
            }
            let id = s.nextID
            s.nextID += 1
            s.followers[id] = Follower(job: job, rank: rank, continuation: continuation)
            continuation.onTermination = { [weak self] _ in
                self?.state.withLock { _ = $0.followers.removeValue(forKey: id) }
            }
        }
        return stream
    }

    private func tailLines(job: JobID, attempt: Int, rank: Int?, count: Int) -> [(Int, String)] {
        let dir = directory.logDirectory(job: job.rawValue, attempt: attempt)
        let ranks: [Int]
        if let rank { ranks = [rank] } else {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            ranks = names.compactMap { name in
                guard name.hasPrefix("rank-"), name.hasSuffix(".log") else { return nil }
                return Int(name.dropFirst(5).dropLast(4))
            }.sorted()
        }
        var out: [(Int, String)] = []
        for r in ranks {
            out += Self.lastLines(of: path(job: job, attempt: attempt, rank: r), count).map { (r, $0) }
        }
        return out
    }

    /// The last `count` lines of a file, reading at most its last 4 MiB.
    static func lastLines(of path: String, _ count: Int) -> [String] {
        guard count > 0, let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        let start = size > 4 << 20 ? size - (4 << 20) : 0
        try? handle.seek(toOffset: start)
        let data = (try? handle.readToEnd()) ?? Data()
        var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init)
        if lines.last == "" { lines.removeLast() }
        if start > 0, !lines.isEmpty { lines.removeFirst() }
        return Array(lines.suffix(count))
    }

    static func format(_ line: String, rank: Int, filtered: Bool) -> String {
        filtered ? line : "[rank \(rank)] \(line)"
    }
}
