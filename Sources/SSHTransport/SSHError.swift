/// What went wrong talking to a host over SSH, with what to do next.
public enum SSHError: Error, Hashable, Sendable, CustomStringConvertible {
    case connect(host: String, port: Int, message: String)
    /// The host's key is not in the known_hosts file and trust-on-first-use is off.
    case hostKeyUnknown(host: String, port: Int, fingerprint: String, knownHosts: String)
    /// The host presented a different key than the one recorded: possibly an attack.
    case hostKeyChanged(host: String, port: Int, fingerprint: String, knownHosts: String)
    case hostKeyCheck(host: String, message: String)
    case authentication(user: String, host: String, identityFile: String, message: String)
    case channel(host: String, message: String)
    case sftp(host: String, path: String, message: String)
    case remoteCommand(host: String, command: String, status: Int32, stderr: String)
    case namespace(path: String, message: String)

    public var description: String {
        switch self {
        case .connect(let host, let port, let message):
            "cannot connect to \(host):\(port): \(message)"
        case .hostKeyUnknown(let host, let port, let fingerprint, let knownHosts):
            "host key of \(host):\(port) (\(fingerprint)) is not in \(knownHosts); add it (ssh-keyscan) or set trustOnFirstUse: true"
        case .hostKeyChanged(let host, let port, let fingerprint, let knownHosts):
            "host key of \(host):\(port) CHANGED: it now presents \(fingerprint), which does not match \(knownHosts); refusing (check the host, then fix the known_hosts entry)"
        case .hostKeyCheck(let host, let message):
            "cannot check the host key of \(host): \(message)"
        case .authentication(let user, let host, let identityFile, let message):
            "authentication of \(user)@\(host) with \(identityFile) failed: \(message)"
        case .channel(let host, let message):
            "SSH channel to \(host): \(message)"
        case .sftp(let host, let path, let message):
            "SFTP to \(host), \(path): \(message)"
        case .remoteCommand(let host, let command, let status, let stderr):
            "command on \(host) exited \(status): \(command): \(stderr)"
        case .namespace(let path, let message):
            "cannot enter network namespace \(path): \(message)"
        }
    }
}
