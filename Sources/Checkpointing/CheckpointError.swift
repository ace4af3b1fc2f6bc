/// What can go wrong saving or restoring a checkpoint, with what to do next.
public enum CheckpointError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A shard of `step` failed verification: `file` is missing, truncated or its SHA-256 differs.
    case corrupt(step: Int, file: String)
    /// No complete shard of this rank exists for `step`.
    case missing(step: Int, rank: Int, dir: String)
    /// A write failed (disk full, permissions): the step is not complete and will not be committed.
    case writeFailed(path: String, errno: Int32)
    /// The background writer is shut down.
    case closed

    /// Exit status a rank uses after `corrupt`, so the controller can fall back to an older step.
    public static let corruptExitCode: Int32 = 86

    public var description: String {
        switch self {
        case .corrupt(let step, let file):
            return "checkpoint step \(step) is corrupt: \(file) does not match its manifest — resume from an older "
                + "committed step (exit \(Self.corruptExitCode) tells the controller to fall back)"
        case .missing(let step, let rank, let dir):
            return "no complete shard of rank \(rank) for step \(step) in \(dir) — was the step committed?"
        case .writeFailed(let path, let errno):
            return "cannot write \(path): \(String(cString: strerror(errno))) — check free space and permissions"
        case .closed:
            return "the checkpoint writer was closed"
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
