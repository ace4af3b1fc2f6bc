import Foundation
import RingmasterTestKit
import Synchronization
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// An ed25519 key pair made by `ssh-keygen` for a test.
public struct SSHKeyPair: Sendable {
    public var privateKey: String
    public var publicKey: String { privateKey + ".pub" }

    public static func generate(at path: String) async throws -> SSHKeyPair {
        try await ChildProcess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ringmaster-test", "-f", path], mergeStderr: true).check()
        return SSHKeyPair(privateKey: path)
    }

    /// The public key line (`ssh-ed25519 AAAA… comment`).
    public func publicKeyLine() throws -> String {
        try String(contentsOfFile: publicKey, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// One sshd, started by a test on an address it chose (loopback, or inside a test namespace), with a host
/// key and authorized keys made by the test. Stopped by `stop()`.
public final class SSHDServer: Sendable {
    public let address: String
    public let port: Int
    public let hostKey: SSHKeyPair
    public let directory: String
    public let namespace: String?
    /// A directory this sshd and every session it starts see as an empty tmpfs of their own (a mount
    /// namespace per sshd start), so hosts that share this machine's disk do not share what is put there.
    public let privateDirectory: String?
    private let process = Mutex<pid_t?>(nil)
    private let log = Mutex<[String]>([])

    /// Where sshd writes down who may log in.
    public var authorizedKeysFile: String { "\(directory)/authorized_keys" }

    /// Creates the config (host key made unless given) and starts sshd; returns once it listens.
    public static func start(
        directory: String, address: String = "127.0.0.1", port: Int? = nil, authorizedKeys: [SSHKeyPair], hostKey: SSHKeyPair? = nil,
        namespace: String? = nil
    ) async throws -> SSHDServer {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let key: SSHKeyPair
        if let hostKey { key = hostKey } else { key = try await SSHKeyPair.generate(at: "\(directory)/ssh_host_ed25519_key") }
        let lines = try authorizedKeys.map { try $0.publicKeyLine() }.joined(separator: "\n") + "\n"
        try lines.write(toFile: "\(directory)/authorized_keys", atomically: true, encoding: .utf8)
        var lastError: (any Error)?
        for _ in 0..<5 {
            let server = SSHDServer(address: address, port: port ?? freeLoopbackPort(), hostKey: key, directory: directory, namespace: namespace)
            do {
                try await server.launch()
                return server
            } catch {
                lastError = error
                if port != nil { break }
            }
        }
        throw lastError!
    }

    /// Like `start`, but leaves sshd stopped (`launch()` starts it later): a host that is down.
    public static func prepare(
        directory: String, address: String, port: Int, authorizedKeys: [SSHKeyPair], hostKey: SSHKeyPair, namespace: String? = nil,
        privateDirectory: String? = nil
    ) async throws -> SSHDServer {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let lines = try authorizedKeys.map { try $0.publicKeyLine() }.joined(separator: "\n") + "\n"
        try lines.write(toFile: "\(directory)/authorized_keys", atomically: true, encoding: .utf8)
        return SSHDServer(
            address: address, port: port, hostKey: hostKey, directory: directory, namespace: namespace, privateDirectory: privateDirectory)
    }

    private init(address: String, port: Int, hostKey: SSHKeyPair, directory: String, namespace: String?, privateDirectory: String? = nil) {
        self.address = address
        self.port = port
        self.hostKey = hostKey
        self.directory = directory
        self.namespace = namespace
        self.privateDirectory = privateDirectory
    }

    public struct StartFailed: Error, CustomStringConvertible {
        public var log: String
        public var description: String { "sshd did not start: \(log)" }
    }

    /// Starts (or restarts) sshd with the same config, key and port.
    public func launch() async throws {
        let config = """
            Port \(port)
            ListenAddress \(address)
            HostKey \(hostKey.privateKey)
            PidFile none
            AuthorizedKeysFile \(authorizedKeysFile)
            StrictModes no
            UsePAM no
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            PubkeyAuthentication yes
            PermitRootLogin prohibit-password
            UseDNS no
            PrintMotd no
            PrintLastLog no
            MaxStartups 100:30:200
            LogLevel INFO
            Subsystem sftp internal-sftp
            # bash sources ~/.bashrc for commands run by sshd unless SHLVL says it is nested: keep the tests
            # independent of root's shell setup (a slow or locked .bashrc would time them).
            SetEnv SHLVL=1

            """
        mkdir("/run/sshd", 0o755)
        let configPath = "\(directory)/sshd_config"
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        var argv = ["/usr/sbin/sshd", "-D", "-e", "-f", configPath]
        if let privateDirectory {
            // unshare and sh exec in place: the pid stays sshd's.
            let mount = "mkdir -p \"$1\" && mount -t tmpfs -o mode=0755 ringmaster-private \"$1\" && shift && exec \"$@\""
            argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount, "sh", privateDirectory] + argv
        }
        if let namespace { argv = ["ip", "netns", "exec", namespace] + argv }
        let command = argv
        let pid = try await onDedicatedThread(name: "sshd start") { [self] () throws -> pid_t in
            let (r, w) = try POSIX.makePipe()
            let pid: pid_t
            do {
                pid = try POSIX.spawn(command, stdin: .devNull, stdout: .fd(w), stderr: .fd(w), newProcessGroup: true)
            } catch {
                close(r)
                close(w)
                throw error
            }
            close(w)
            // Ready when sshd says it listens (its first line on success); its log is drained afterwards.
            var text: [UInt8] = []
            var buf = [UInt8](repeating: 0, count: 4096)
            let deadline = POSIX.monotonicNanoseconds() + 10_000_000_000
            var listening = false
            while !listening, POSIX.monotonicNanoseconds() < deadline {
                var pfd = pollfd(fd: r, events: Int16(POLLIN), revents: 0)
                if poll(&pfd, 1, 500) <= 0 { continue }
                let n = buf.withUnsafeMutableBytes { read(r, $0.baseAddress!, $0.count) }
                if n <= 0 { break }
                text += buf[0..<n]
                listening = String(decoding: text, as: UTF8.self).contains("Server listening on")
            }
            guard listening else {
                kill(pid, SIGKILL)
                _ = POSIX.wait(pid)
                close(r)
                throw StartFailed(log: String(decoding: text, as: UTF8.self))
            }
            runOnDedicatedThread(name: "sshd log") { [self] in
                var buf = [UInt8](repeating: 0, count: 4096)
                while true {
                    let n = buf.withUnsafeMutableBytes { read(r, $0.baseAddress!, $0.count) }
                    if n < 0, errno == EINTR { continue }
                    if n <= 0 { break }
                    let s = String(decoding: buf[0..<n], as: UTF8.self)
                    log.withLock {
                        $0.append(s)
                        if $0.count > 200 { $0.removeFirst(100) }
                    }
                }
                close(r)
            }
            return pid
        }
        process.withLock { $0 = pid }
    }

    public var pid: pid_t? { process.withLock { $0 } }

    public var recentLog: String { log.withLock { $0.joined() } }

    /// The known_hosts line for this server's key.
    public func knownHostsLine(host: String? = nil) throws -> String {
        let fields = try hostKey.publicKeyLine().split(separator: " ")
        let h = host ?? address
        let name = port == 22 ? h : "[\(h)]:\(port)"
        return "\(name) \(fields[0]) \(fields[1])"
    }

    /// Stops the listening sshd (sessions already open keep their own processes).
    public func stop() async {
        guard let pid = process.withLock({ p -> pid_t? in
            defer { p = nil }
            return p
        }) else { return }
        kill(pid, SIGTERM)
        _ = try? await onDedicatedThread(name: "sshd wait") { POSIX.wait(pid) }
    }
}
