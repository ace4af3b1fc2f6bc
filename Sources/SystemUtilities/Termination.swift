#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension POSIX {
    /// How a child ended.
    public enum Termination: Hashable, Sendable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        public init(waitStatus s: Int32) {
            if s & 0x7f == 0 { self = .exited((s >> 8) & 0xff) } else { self = .signaled(s & 0x7f) }
        }

        /// The shell's convention: the exit code, or 128 + the signal that killed it.
        public var exitStatus: Int32 {
            switch self {
            case .exited(let c): c
            case .signaled(let s): 128 + s
            }
        }

        public var description: String {
            switch self {
            case .exited(let c): "exit status \(c)"
            case .signaled(let s): "signal \(s)"
            }
        }
    }

    /// Blocking waitpid (EINTR retried): call it from a thread of its own, never from the cooperative pool.
    public static func wait(_ pid: pid_t) -> Termination? {
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, 0)
            if r == pid { return Termination(waitStatus: status) }
            if r < 0, errno == EINTR { continue }
            return nil
        }
    }

    /// Non-blocking waitpid: nil while the child runs.
    public static func tryWait(_ pid: pid_t) -> Termination? {
        var status: Int32 = 0
        let r = waitpid(pid, &status, WNOHANG)
        return r == pid ? Termination(waitStatus: status) : nil
    }

    /// Blocks until `pid` has ended but leaves it a zombie (waitid with WNOWAIT), so its pid cannot be
    /// reused before `wait` reaps it: a signal sent in between reaches nobody else. False when there is
    /// no such child.
    public static func waitUntilEnded(_ pid: pid_t) -> Bool {
        var info = siginfo_t()
        while true {
            if waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) == 0 { return true }
            if errno == EINTR { continue }
            return false
        }
    }
}
