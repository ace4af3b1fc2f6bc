import AgentProtocol
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// One line about the agent itself, on stderr (the protocol owns stdout).
func agentLog(_ message: String) {
    var line = Array("ringmaster-agent[\(getpid())]: \(message)\n".utf8)
    if line.count > 4096 { line = Array(line.prefix(4095)) + [10] }
    try? POSIX.writeAll(2, line)
}

/// Write end of the SIGCHLD self-pipe; the handler only writes one byte to it.
nonisolated(unsafe) var sigchldWriteFD: Int32 = -1

func installSIGCHLDPipe() -> Int32 {
    guard let (r, w) = try? POSIX.makePipe() else {
        agentLog("cannot create the SIGCHLD pipe")
        exit(1)
    }
    POSIX.setNonBlocking(r)
    POSIX.setNonBlocking(w)
    sigchldWriteFD = w
    signal(SIGCHLD) { _ in
        let saved = errno
        var b: UInt8 = 1
        _ = write(sigchldWriteFD, &b, 1)
        errno = saved
    }
    return r
}

/// The `--exec-rank` shim: runs in the freshly spawned child, asks the kernel to SIGKILL it when the agent
/// dies (so a killed agent leaves no orphan rank), then becomes the rank with execvp.
func execRank(parentPID: Int32, cwd: String?, argv: [String]) -> Never {
    // prctl is variadic in C and not imported by Swift; call it through its symbol with a fixed prototype
    // (integer arguments only, which the x86_64 and arm64 Linux ABIs pass identically).
    typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
    if let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "prctl") {
        let prctl = unsafeBitCast(sym, to: Prctl.self)
        _ = prctl(1 /* PR_SET_PDEATHSIG */, UInt(SIGKILL), 0, 0, 0)
    }
    // The agent may have died between spawn and prctl: then nobody would kill us.
    if getppid() != parentPID {
        _exit(1)
    }
    if let cwd, chdir(cwd) != 0 {
        let e = errno
        agentLog("rank: cannot change directory to \(cwd): \(String(cString: strerror(e)))")
        _exit(127)
    }
    let cArgv = argv.map { strdup($0) } + [nil]
    execvp(argv[0], cArgv)
    let e = errno
    agentLog("rank: cannot execute \(argv[0]): \(String(cString: strerror(e)))")
    _exit(127)
}

/// `mkdir -p`.
func makeDirectories(_ path: String) -> Bool {
    var current = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        current += "/" + part
        if mkdir(current, 0o755) != 0, errno != EEXIST { return false }
    }
    return true
}

/// Finds `name` on `path` (a PATH value) the way execvp will; a name with a slash is checked as is.
func resolveExecutable(_ name: String, path: String?, cwd: String?) -> String? {
    if name.utf8.contains(UInt8(ascii: "/")) {  // not Foundation's contains: its locale support would bring ICU into the static agent
        let full = name.hasPrefix("/") || cwd == nil ? name : cwd! + "/" + name
        return access(full, X_OK) == 0 ? full : nil
    }
    for dir in (path ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":") {
        let full = "\(dir)/\(name)"
        var st = stat()
        if stat(full, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, access(full, X_OK) == 0 { return full }
    }
    return nil
}

/// A NUL-terminated C character array as a String.
func stringFromCChars(_ chars: [CChar]) -> String {
    chars.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}
