#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Thin POSIX helpers shared by the agent, the controller, the CLI and the test fixtures.
/// Processes are started with posix_spawn only (never fork); every descriptor made here is close-on-exec.
public enum POSIX {
    /// A failed system call: what was being done and its errno.
    public struct Error: Swift.Error, CustomStringConvertible, Hashable {
        public var operation: String
        public var errno: Int32
        public init(_ operation: String, errno: Int32) {
            self.operation = operation
            self.errno = errno
        }

        public var description: String { "\(operation): \(String(cString: strerror(errno)))" }
    }
}
