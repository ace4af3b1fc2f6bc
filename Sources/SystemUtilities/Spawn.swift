#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension POSIX {
    /// What to connect a child's descriptor to.
    public enum ChildIO: Sendable {
        case inherit
        case devNull
        /// dup2 this descriptor of the parent.
        case fd(Int32)
    }

    /// Starts `argv` with posix_spawnp. The child gets default signal dispositions (SIGPIPE included)
    /// and an empty signal mask; `newProcessGroup` puts it in a group of its own (pgid = pid).
    public static func spawn(
        _ argv: [String], environment: [String]? = nil, stdin: ChildIO = .devNull, stdout: ChildIO = .inherit,
        stderr: ChildIO = .inherit, newProcessGroup: Bool = false
    ) throws(Error) -> pid_t {
        precondition(!argv.isEmpty)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, io) in [(Int32(0), stdin), (1, stdout), (2, stderr)] {
            switch io {
            case .inherit: break
            case .devNull: posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
            case .fd(let fd): posix_spawn_file_actions_adddup2(&actions, fd, target)
            }
        }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setsigmask(&attr, &none)
        var flags = Int32(POSIX_SPAWN_SETSIGDEF) | Int32(POSIX_SPAWN_SETSIGMASK)
        if newProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attr, 0)
        }
        posix_spawnattr_setflags(&attr, Int16(flags))

        let cArgv = argv.map { strdup($0) } + [nil]
        defer { cArgv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc: Int32
        if let environment {
            let cEnv = environment.map { strdup($0) } + [nil]
            defer { cEnv.forEach { free($0) } }
            rc = posix_spawnp(&pid, argv[0], &actions, &attr, cArgv, cEnv)
        } else {
            rc = posix_spawnp(&pid, argv[0], &actions, &attr, cArgv, environ)
        }
        guard rc == 0 else { throw Error("spawn \(argv[0])", errno: rc) }
        return pid
    }
}
