import RingmasterModel

/// What the store refuses, with what to do next.
public enum StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    case newerSchema(path: String, unknownMigrations: [String])
    case cannotOpen(path: String, reason: String)
    case unknownNode(NodeID)
    case unknownJob(JobID)
    case unknownAttempt(Int64)
    case unknownRank(attempt: Int64, rank: Int)
    case illegalTransition(job: JobID, from: JobState, to: JobState)
    case attemptAlreadyFinished(Int64, AttemptState)
    case malformedEventKind(String)
    case placementNodesUnknown([NodeID])
    /// SQLite could not write the file: its filesystem is full (`SQLITE_FULL`, `ENOSPC`).
    case diskFull(path: String)
    /// Another process holds a lock on the file (`SQLITE_BUSY`, `SQLITE_LOCKED`) past the busy timeout.
    case locked(path: String)
    /// Reading or writing the file failed in the operating system (`SQLITE_IOERR`, …).
    case ioError(path: String, reason: String)

    /// The file could not be written now but may be later (space freed, the lock released): nothing stored
    /// was lost, and the same write can be tried again.
    public var isTransient: Bool {
        switch self {
        case .diskFull, .locked, .ioError: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .newerSchema(let path, let unknown):
            return "\(path) was written by a newer Ringmaster (schema migrations this build does not know: "
                + "\(unknown.joined(separator: ", "))) — upgrade ringmaster, or use another --state-dir"
        case .cannotOpen(let path, let reason):
            return "cannot open the state database \(path): \(reason) — check the state directory's permissions"
        case .unknownNode(let id):
            return "no node `\(id)` in the store — register it first (is it in the inventory?)"
        case .unknownJob(let id):
            return "no job `\(id)` — `ringmaster jobs` lists the jobs"
        case .unknownAttempt(let id):
            return "no attempt \(id) in the store"
        case .unknownRank(let attempt, let rank):
            return "attempt \(attempt) has no rank \(rank)"
        case .illegalTransition(let job, let from, let to):
            return "job \(job) cannot go from \(from.rawValue) to \(to.rawValue)"
        case .attemptAlreadyFinished(let id, let state):
            return "attempt \(id) already ended as \(state.rawValue)"
        case .malformedEventKind(let kind):
            return "event kind `\(kind)` is not of the form subject.verb (lower-case)"
        case .placementNodesUnknown(let nodes):
            return "placement uses nodes the store does not know: \(nodes.map(\.rawValue).joined(separator: ", "))"
        case .diskFull(let path):
            return "cannot write the state database \(path): its filesystem is full — free space there (`df \(Self.folder(path))`); "
                + "what is already stored is intact, and the write can be retried once there is room"
        case .locked(let path):
            return "the state database \(path) is locked by another process — end that process's transaction (an open "
                + "`sqlite3` shell, a backup tool; `fuser \(path)` names it); the controller alone should write it"
        case .ioError(let path, let reason):
            return "cannot read or write the state database \(path): \(reason) — check the disk and the state directory's "
                + "filesystem (`dmesg`)"
        }
    }
}

extension StoreError {
    static func folder(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "." }
        return String(path[..<slash])
    }
}
