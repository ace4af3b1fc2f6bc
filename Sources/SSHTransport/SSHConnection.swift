import CLibSSH
import Foundation
import Synchronization

/// Where and how to reach one host.
public struct SSHEndpoint: Hashable, Sendable {
    public var host: String
    public var port: Int
    public var user: String
    /// Private key file (absolute path).
    public var identityFile: String
    /// The only known_hosts file consulted.
    public var knownHostsFile: String
    /// Accept and record an unknown host key; a changed key is refused regardless.
    public var trustOnFirstUse: Bool
    /// Limit for TCP connect, key exchange and authentication, each blocking libssh call alike.
    public var timeout: Duration
    /// Network namespace (e.g. `/run/netns/NAME`) the session's thread enters before connecting: test clusters.
    public var networkNamespace: String?

    public init(
        host: String, port: Int = 22, user: String, identityFile: String, knownHostsFile: String,
        trustOnFirstUse: Bool = false, timeout: Duration = .seconds(5), networkNamespace: String? = nil
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.identityFile = identityFile
        self.knownHostsFile = knownHostsFile
        self.trustOnFirstUse = trustOnFirstUse
        self.timeout = timeout
        self.networkNamespace = networkNamespace
    }
}

/// Where the time of `SSHConnection.init` went, in seconds.
public struct SSHConnectTimings: Hashable, Sendable {
    /// TCP connect, banner and key exchange (`ssh_connect`).
    public var handshake = 0.0
    /// The host key against known_hosts (and recording it on first use).
    public var hostKeyCheck = 0.0
    /// Public-key authentication.
    public var authentication = 0.0
    public init() {}
    public var total: Double { handshake + hostKeyCheck + authentication }
}

/// One authenticated libssh session. Not thread-safe: create it and use it on one thread only (see
/// SystemUtilities' `runOnDedicatedThread`); `SSHStream` is the one part other threads may touch.
public final class SSHConnection {
    public let endpoint: SSHEndpoint
    let session: ssh_session
    /// SHA-256 fingerprint of the host key, `SHA256:…`.
    public private(set) var hostKeyFingerprint = ""
    /// True when the host key was unknown and recorded (trust on first use).
    public private(set) var recordedHostKey = false
    public private(set) var timings = SSHConnectTimings()
    private var disconnected = false
    var isDisconnected: Bool { disconnected }

    /// Connects, checks the host key against `endpoint.knownHostsFile`, and authenticates with the key. Blocking.
    public init(_ endpoint: SSHEndpoint) throws(SSHError) {
        if let ns = endpoint.networkNamespace { try Self.enterNetworkNamespace(ns) }
        self.endpoint = endpoint
        try SSHLibrary.sessionStarting(host: endpoint.host, port: endpoint.port)
        guard let s = ssh_new() else {
            SSHLibrary.sessionEnded()
            throw .connect(host: endpoint.host, port: endpoint.port, message: "ssh_new failed")
        }
        session = s
        do {
            try configure()
            var t = ContinuousClock.now
            func lap() -> Double {
                let now = ContinuousClock.now
                defer { t = now }
                return (now - t).seconds
            }
            try connect()
            timings.handshake = lap()
            try verifyHostKey()
            timings.hostKeyCheck = lap()
            try authenticate()
            timings.authentication = lap()
        } catch {
            disconnect()
            throw error
        }
    }

    deinit { disconnect() }

    public func disconnect() {
        guard !disconnected else { return }
        disconnected = true
        ssh_disconnect(session)
        ssh_free(session)
        SSHLibrary.sessionEnded()
    }

    /// AES-GCM first, then libssh's own default order. libssh (0.10) puts chacha20-poly1305 first, which here
    /// was much the slower of the two (AES-GCM runs on the CPU's AES instructions, as on any recent x86 or
    /// ARMv8 server): uploading the 24.7 MB agent to 16 namespace hosts at once took 2.9-3.2 s (median per host) with the
    /// default, 1.7-1.8 s with AES-GCM, back to back on the same machine.
    static let ciphers = "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr"

    var errorText: String { String(cString: ssh_get_error(UnsafeMutableRawPointer(session))) }

    private func configure() throws(SSHError) {
        let e = endpoint
        let seconds = max(1, Int(e.timeout.components.seconds))
        var ok = rm_ssh_set_string(session, SSH_OPTIONS_HOST, e.host) == 0
        ok = ok && rm_ssh_set_unsigned(session, SSH_OPTIONS_PORT, UInt32(e.port)) == 0
        ok = ok && rm_ssh_set_string(session, SSH_OPTIONS_USER, e.user) == 0
        ok = ok && rm_ssh_set_bool(session, SSH_OPTIONS_PROCESS_CONFIG, false) == 0
        ok = ok && rm_ssh_set_long(session, SSH_OPTIONS_TIMEOUT, seconds) == 0
        ok = ok && rm_ssh_set_string(session, SSH_OPTIONS_KNOWNHOSTS, e.knownHostsFile) == 0
        ok = ok && rm_ssh_set_string(session, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") == 0
        // The identity is set before connecting, so libssh never falls back to ~/.ssh keys or an ssh-agent.
        ok = ok && rm_ssh_set_string(session, SSH_OPTIONS_IDENTITY, e.identityFile) == 0
        ok = ok && rm_ssh_set_string(session, SSH_OPTIONS_CIPHERS_C_S, Self.ciphers) == 0
        ok = ok && rm_ssh_set_string(session, SSH_OPTIONS_CIPHERS_S_C, Self.ciphers) == 0
        guard ok else { throw .connect(host: e.host, port: e.port, message: "bad SSH options: \(errorText)") }
    }

    private func connect() throws(SSHError) {
        guard ssh_connect(session) == SSH_OK else {
            throw .connect(host: endpoint.host, port: endpoint.port, message: errorText)
        }
    }

    private func verifyHostKey() throws(SSHError) {
        let e = endpoint
        var key: ssh_key?
        guard ssh_get_server_publickey(session, &key) == SSH_OK, let key else {
            throw .hostKeyCheck(host: e.host, message: "no server key: \(errorText)")
        }
        defer { ssh_key_free(key) }
        var hash: UnsafeMutablePointer<UInt8>?
        var length = 0
        if ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &length) == 0, let hash {
            if let fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, length) {
                hostKeyFingerprint = String(cString: fp)
                ssh_string_free_char(fp)
            }
            var h: UnsafeMutablePointer<UInt8>? = hash
            ssh_clean_pubkey_hash(&h)
        }
        switch ssh_session_is_known_server(session) {
        case SSH_KNOWN_HOSTS_OK:
            return
        case SSH_KNOWN_HOSTS_CHANGED, SSH_KNOWN_HOSTS_OTHER:
            throw .hostKeyChanged(host: e.host, port: e.port, fingerprint: hostKeyFingerprint, knownHosts: e.knownHostsFile)
        case SSH_KNOWN_HOSTS_UNKNOWN, SSH_KNOWN_HOSTS_NOT_FOUND:
            guard e.trustOnFirstUse else {
                throw .hostKeyUnknown(host: e.host, port: e.port, fingerprint: hostKeyFingerprint, knownHosts: e.knownHostsFile)
            }
            guard ssh_session_update_known_hosts(session) == SSH_OK else {
                throw .hostKeyCheck(host: e.host, message: "cannot record the key in \(e.knownHostsFile): \(errorText)")
            }
            recordedHostKey = true
        default:
            throw .hostKeyCheck(host: e.host, message: errorText)
        }
    }

    private func authenticate() throws(SSHError) {
        let e = endpoint
        var key: ssh_key?
        guard ssh_pki_import_privkey_file(e.identityFile, nil, nil, nil, &key) == SSH_OK, let key else {
            throw .authentication(user: e.user, host: e.host, identityFile: e.identityFile, message: "cannot read the private key")
        }
        defer { ssh_key_free(key) }
        let rc = ssh_userauth_publickey(session, nil, key)
        guard rc == SSH_AUTH_SUCCESS.rawValue else {
            throw .authentication(
                user: e.user, host: e.host, identityFile: e.identityFile,
                message: rc == SSH_AUTH_DENIED.rawValue ? "key refused by the server" : errorText)
        }
    }

    static func enterNetworkNamespace(_ path: String) throws(SSHError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .namespace(path: path, message: String(cString: strerror(errno))) }
        defer { close(fd) }
        guard setns(fd, RINGMASTER_CLONE_NEWNET) == 0 else {
            throw .namespace(path: path, message: String(cString: strerror(errno)))
        }
    }

    // MARK: Commands

    /// Runs `command` through the remote shell and collects (at most `limit` bytes of) its output. Blocking.
    public func run(_ command: String, limit: Int = 1 << 20) throws(SSHError) -> (status: Int32, stdout: String, stderr: String) {
        guard let channel = ssh_channel_new(session) else { throw .channel(host: endpoint.host, message: errorText) }
        defer {
            ssh_channel_close(channel)
            ssh_channel_free(channel)
        }
        guard ssh_channel_open_session(channel) == SSH_OK, ssh_channel_request_exec(channel, command) == SSH_OK else {
            throw .channel(host: endpoint.host, message: errorText)
        }
        var out: [UInt8] = []
        var err: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 16384)
        for isStderr: Int32 in [0, 1] {
            while true {
                let n = buf.withUnsafeMutableBytes { ssh_channel_read(channel, $0.baseAddress, UInt32($0.count), isStderr) }
                if n == SSH_ERROR { throw .channel(host: endpoint.host, message: errorText) }
                if n <= 0 { break }
                if isStderr == 0 {
                    if out.count < limit { out += buf[0..<Int(n)] }
                } else if err.count < limit {
                    err += buf[0..<Int(n)]
                }
            }
        }
        ssh_channel_send_eof(channel)
        let status = ssh_channel_get_exit_status(channel)
        return (status, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    // MARK: SFTP

    /// Uploads `localPath` to `remotePath` atomically: parents created, written under a temporary name in
    /// ≤128 KiB writes, then renamed over (an existing target is replaced with `mv -f`, i.e. rename(2), so
    /// the path never goes missing). Relative paths are relative to the login directory. Returns the byte
    /// count. Blocking.
    @discardableResult
    public func upload(localPath: String, to remotePath: String, mode: mode_t = 0o755) throws(SSHError) -> UInt64 {
        let (bytes, pendingTemp) = try sftpUpload(localPath: localPath, to: remotePath, mode: mode)
        if let temp = pendingTemp {
            // SFTP v3 rename refuses an existing target (another controller's upload, or a stale file): replace
            // it atomically with rename(2) through the shell (after the SFTP channel is closed), never
            // unlink-then-rename (a window in which the file is missing).
            let q = { (p: String) in "'" + p.replacing("'", with: "'\\''") + "'" }
            let r = try run("mv -f -- \(q(temp)) \(q(remotePath)) || { rm -f -- \(q(temp)); exit 1; }")
            guard r.status == 0 else {
                throw .sftp(host: endpoint.host, path: remotePath, message: "cannot rename \(temp) over it: \(r.stderr)")
            }
        }
        return bytes
    }

    /// Returns the byte count and, when the final rename must be done by the shell, the temporary file.
    private func sftpUpload(localPath: String, to remotePath: String, mode: mode_t) throws(SSHError) -> (UInt64, String?) {
        let host = endpoint.host
        guard let sftp = sftp_new(session) else { throw .sftp(host: host, path: remotePath, message: errorText) }
        defer { sftp_free(sftp) }
        guard sftp_init(sftp) == SSH_OK else { throw .sftp(host: host, path: remotePath, message: "sftp_init: \(errorText)") }
        func sftpError(_ what: String) -> SSHError {
            .sftp(host: host, path: remotePath, message: "\(what) (SFTP status \(sftp_get_error(sftp))): \(errorText)")
        }
        // mkdir -p of the parent directory.
        let parts = remotePath.split(separator: "/").dropLast()
        var dir = remotePath.hasPrefix("/") ? "" : "."
        for part in parts {
            dir += "/" + part
            if let attrs = sftp_stat(sftp, dir) {
                sftp_attributes_free(attrs)
                continue
            }
            if sftp_mkdir(sftp, dir, 0o755) != 0 {
                // Another controller may have made it meanwhile.
                if let attrs = sftp_stat(sftp, dir) {
                    sftp_attributes_free(attrs)
                    continue
                }
                throw sftpError("mkdir \(dir)")
            }
        }
        let local = open(localPath, O_RDONLY | O_CLOEXEC)
        guard local >= 0 else { throw .sftp(host: host, path: localPath, message: "cannot open local file: \(String(cString: strerror(errno)))") }
        defer { close(local) }
        let temp = "\(remotePath).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard let file = sftp_open(sftp, temp, O_WRONLY | O_CREAT | O_TRUNC, mode) else { throw sftpError("open \(temp)") }
        var total: UInt64 = 0
        let chunk = 128 * 1024
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        var failure: SSHError?
        while failure == nil {
            let n = read(local, buffer, chunk)
            if n < 0, errno == EINTR { continue }
            if n < 0 {
                failure = .sftp(host: host, path: localPath, message: "read: \(String(cString: strerror(errno)))")
                break
            }
            if n == 0 { break }
            var off = 0
            while off < n {
                let w = sftp_write(file, buffer + off, n - off)
                if w <= 0 {
                    failure = sftpError("write \(temp)")
                    break
                }
                off += w
            }
            total += UInt64(n)
        }
        if sftp_close(file) != SSH_OK, failure == nil { failure = sftpError("close \(temp)") }
        if failure == nil {
            _ = sftp_chmod(sftp, temp, mode)
            if sftp_rename(sftp, temp, remotePath) != 0 { return (total, temp) }
        }
        if let failure {
            _ = sftp_unlink(sftp, temp)
            throw failure
        }
        return (total, nil)
    }

    // MARK: Streams

    /// Starts `command` on a new channel for a long-lived byte stream (see `SSHStream.pump`).
    public func openStream(_ command: String) throws(SSHError) -> SSHStream {
        guard let channel = ssh_channel_new(session) else { throw .channel(host: endpoint.host, message: errorText) }
        guard ssh_channel_open_session(channel) == SSH_OK, ssh_channel_request_exec(channel, command) == SSH_OK else {
            let message = errorText
            ssh_channel_free(channel)
            throw .channel(host: endpoint.host, message: message)
        }
        return try SSHStream(connection: self, channel: channel)
    }
}
