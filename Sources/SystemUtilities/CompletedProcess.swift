#if canImport(Glibc)
import Glibc
#endif

/// A child process that has run to its end, with everything it wrote.
public struct CompletedProcess: Sendable, CustomStringConvertible {
    public var argv: [String]
    /// nil when it could not be waited for.
    public var termination: POSIX.Termination?
    public var standardOutput: String
    public var standardError: String

    /// The exit code, or 128 + the signal that killed it; -1 if unknown.
    public var status: Int32 { termination?.exitStatus ?? -1 }
    public var succeeded: Bool { termination == .exited(0) }
    /// Everything it wrote: stdout, then stderr (one stream in the order written when stderr was merged).
    public var output: String { standardOutput + standardError }

    public var description: String {
        "\(argv.joined(separator: " ")) ended with \(termination.map { "\($0)" } ?? "an unknown status")"
    }

    /// Throws `Failed` unless it exited with 0.
    @discardableResult
    public func check() throws(Failed) -> CompletedProcess {
        guard succeeded else { throw Failed(result: self) }
        return self
    }

    public struct Failed: Error, CustomStringConvertible {
        public var result: CompletedProcess
        public var description: String { "\(result): \(result.output)" }
    }
}

extension ChildProcess {
    /// Runs `argv` to its end (awaiting, never blocking the caller's thread) and returns what it wrote;
    /// with `mergeStderr` both streams arrive in `standardOutput`, in the order written.
    public static func run(
        _ argv: [String], environment: [String: String]? = nil, mergeStderr: Bool = false
    ) async throws(POSIX.Error) -> CompletedProcess {
        let child = try ChildProcess(argv, environment: environment, stdout: .capture, stderr: mergeStderr ? .stdout : .capture)
        // A cancelled run kills its child: the caller's bound (a test's time limit, a timeout) ends the
        // wait instead of the wait outliving it.
        _ = await withTaskCancellationHandler {
            await child.exit()
        } onCancel: {
            child.signal(SIGKILL)
        }
        return CompletedProcess(
            argv: argv, termination: child.termination, standardOutput: child.standardOutput, standardError: child.standardError)
    }
}
