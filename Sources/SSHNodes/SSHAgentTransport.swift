import AgentProtocol
import Foundation
import NodeManager
import RingmasterModel
import SSHTransport
import Synchronization
import SystemUtilities

/// How an agent got onto a node, for the closing numbers and the event log.
public struct AgentDeployment: Hashable, Sendable {
    public var node: NodeID
    /// False when the node already had this build.
    public var uploaded: Bool
    public var bytes: UInt64
    public var remotePath: String
    /// Host key recorded on first use.
    public var recordedHostKey: Bool
    public var connectSeconds: Double
    /// The parts of `connectSeconds`: handshake, host key check, authentication.
    public var connectTimings: SSHConnectTimings
    /// With an upload: the first start command, which found no agent of this build and asked for one.
    public var probeSeconds: Double
    /// From the start command to the agent's first line (`hello`): the agent checking its own hash, then
    /// probing the host. With an upload, the second start command's.
    public var startSeconds: Double
    public var uploadSeconds: Double
}

/// SSH mode: connect (strict host key, key authentication), make sure the node runs our agent build
/// (upload over SFTP when missing or different), then speak the protocol on one long-lived exec channel.
/// Every session has a thread of its own, for its whole life.
public struct SSHAgentTransport: AgentTransport {
    public var agentExecutable: String
    public var agentBuildHash: String
    /// The C ABI library (`libRingmasterC.so`) found beside the agent executable: uploaded with it, so
    /// Python ranks on the node can use Ringmaster's collectives (the agent points them at it).
    public var collectivesLibrary: String?
    /// The folder name on nodes: the agent's hash, or with the library the hash of both hashes, so a
    /// new build of either is deployed afresh.
    public var deploymentHash: String
    /// Where agents live on nodes, relative to the login directory unless absolute.
    public var remoteAgentRoot: String
    /// Network namespace to connect from, per host (the netns test cluster).
    public var networkNamespaces: [String: String]
    public var shutdownGraceMilliseconds: Int?
    public var onDeployment: (@Sendable (AgentDeployment) -> Void)?
    public var stderrSink: (@Sendable (NodeID, String) -> Void)?

    public init(
        agentExecutable: String, remoteAgentRoot: String = ".ringmaster/agent", networkNamespaces: [String: String] = [:],
        shutdownGraceMilliseconds: Int? = nil, onDeployment: (@Sendable (AgentDeployment) -> Void)? = nil,
        stderrSink: (@Sendable (NodeID, String) -> Void)? = nil
    ) throws {
        self.agentExecutable = agentExecutable
        try DeployableBuild.check(agentExecutable, role: "the agent")
        agentBuildHash = try POSIX.sha256(ofFile: agentExecutable)
        let library = (agentExecutable as NSString).deletingLastPathComponent + "/libRingmasterC.so"
        if FileManager.default.isReadableFile(atPath: library) {
            try DeployableBuild.check(library, role: "the C ABI library")
            collectivesLibrary = library
            deploymentHash = SHA256Hasher.hex(of: Array("\(agentBuildHash):\(try POSIX.sha256(ofFile: library))".utf8))
        } else {
            collectivesLibrary = nil
            deploymentHash = agentBuildHash
        }
        self.remoteAgentRoot = remoteAgentRoot
        self.networkNamespaces = networkNamespaces
        self.shutdownGraceMilliseconds = shutdownGraceMilliseconds
        self.onDeployment = onDeployment
        self.stderrSink = stderrSink
    }

    public enum ConfigurationError: Error, CustomStringConvertible {
        case noSSHSettings(NodeID)
        public var description: String {
            switch self {
            case .noSSHSettings(let n): "node \(n) has no SSH settings (user, identityFile, knownHosts)"
            }
        }
    }

    /// The agent's path on nodes.
    public var remoteAgentPath: String { "\(remoteAgentRoot)/\(deploymentHash)/ringmaster-agent" }
    public var remoteLibraryPath: String { "\(remoteAgentRoot)/\(deploymentHash)/libRingmasterC.so" }

    static func shellPath(_ p: String) -> String {
        p.hasPrefix("/") ? shellQuote(p) : "\"$HOME\"/" + shellQuote(p)
    }

    public func open(
        node: NodeEntry, inventory: ClusterInventory, handler: @escaping @Sendable (AgentChannelEvent) -> Void
    ) async throws -> any AgentChannel {
        guard let ssh = node.ssh else { throw ConfigurationError.noSSHSettings(node.id) }
        POSIX.ignoreSIGPIPE()
        let endpoint = SSHEndpoint(
            host: node.host, port: ssh.port, user: ssh.user, identityFile: ssh.identityFile, knownHostsFile: ssh.knownHosts,
            trustOnFirstUse: ssh.trustOnFirstUse, timeout: ssh.connectTimeout, networkNamespace: networkNamespaces[node.host])
        let options = AgentLaunchSettings.options(for: node, inventory: inventory, shutdownGraceMilliseconds: shutdownGraceMilliseconds)
        let transport = self
        return try await withCheckedThrowingContinuation { (c: CheckedContinuation<any AgentChannel, any Error>) in
            runOnDedicatedThread(name: "ssh \(node.id)") {
                transport.session(node: node.id, endpoint: endpoint, options: options, opened: c, handler: handler)
            }
        }
    }

    /// The whole life of one SSH session, on its own thread: connect, start the agent (deploying it when the
    /// node lacks this build), then pump until the channel ends. The fast path is one command: the start
    /// command runs the agent if its file exists and the agent checks its own hash (`--expect-hash`); a node
    /// without it answers `deployMarker` instead of `hello`, and only then is the build uploaded.
    private func session(
        node: NodeID, endpoint: SSHEndpoint, options: AgentOptions, opened: CheckedContinuation<any AgentChannel, any Error>,
        handler: @escaping @Sendable (AgentChannelEvent) -> Void
    ) {
        var t = POSIX.monotonicNanoseconds()
        func lap() -> Double {
            let now = POSIX.monotonicNanoseconds()
            defer { t = now }
            return Double(now - t) / 1e9
        }
        let connection: SSHConnection
        do {
            connection = try SSHConnection(endpoint)
        } catch {
            opened.resume(throwing: error)
            return
        }
        defer { connection.disconnect() }
        let connectSeconds = lap()
        var options = options
        options.expectedBuildHash = agentBuildHash
        let path = Self.shellPath(remoteAgentPath)
        func command(_ options: AgentOptions) -> String {
            "P=\(path); if [ -x \"$P\" ]; then exec \"$P\" \(options.arguments.map(shellQuote).joined(separator: " ")); fi; echo \(AgentOptions.deployMarker)"
        }
        var uploaded = false
        var bytes: UInt64 = 0
        var uploadSeconds = 0.0
        var probeSeconds = 0.0
        var startSeconds = 0.0
        for round in 0..<2 {
            let stream: SSHStream
            do {
                // After an upload the agent need not read its file back to know it is this build.
                options.justUploaded = uploaded
                stream = try connection.openStream(command(options))
            } catch {
                opened.resume(throwing: error)
                return
            }
            // Before the first line: is it our agent's hello or a request to deploy?
            var first: [UInt8] = []
            var decided = false
            var wantsDeployment = false
            var decoder = AgentStreamDecoder()
            decoder.expectedBuildHash = agentBuildHash
            var tail = StderrTail()
            var partial: [UInt8] = []
            let channel = SSHAgentChannel(control: stream.control)
            let end = stream.pump(
                onStdout: { chunk in
                    var input = chunk
                    if !decided {
                        first += chunk
                        guard let nl = first.firstIndex(of: 10) else { return first.count <= AgentWire.maxLineBytes }
                        if String(decoding: first[..<nl], as: UTF8.self) == AgentOptions.deployMarker {
                            wantsDeployment = true
                            return false
                        }
                        decided = true
                        startSeconds = lap()
                        onDeployment?(
                            AgentDeployment(
                                node: node, uploaded: uploaded, bytes: bytes,
                                remotePath: remoteAgentPath, recordedHostKey: connection.recordedHostKey, connectSeconds: connectSeconds,
                                connectTimings: connection.timings, probeSeconds: probeSeconds, startSeconds: startSeconds,
                                uploadSeconds: uploadSeconds))
                        opened.resume(returning: channel)
                        input = first
                        first = []
                    }
                    for m in decoder.feed(input) { handler(.message(m)) }
                    return decoder.violation == nil
                },
                onStderr: { bytes in
                    tail.append(bytes)
                    if let sink = stderrSink {
                        partial += bytes
                        while let nl = partial.firstIndex(of: 10) {
                            sink(node, String(decoding: partial[..<nl], as: UTF8.self))
                            partial.removeSubrange(...nl)
                        }
                        if partial.count > 8192 { partial.removeAll() }
                    }
                })
            if wantsDeployment, round == 0 {
                probeSeconds = lap()
                do {
                    // The library first: an agent present at its path means its library is there too.
                    if let library = collectivesLibrary {
                        bytes = try connection.upload(localPath: library, to: remoteLibraryPath, mode: 0o644)
                    }
                    bytes += try connection.upload(localPath: agentExecutable, to: remoteAgentPath)
                } catch {
                    opened.resume(throwing: error)
                    return
                }
                uploaded = true
                uploadSeconds = lap()
                continue
            }
            guard decided else {
                // No hello and no agent: report why opening failed.
                let why = wantsDeployment ? "the uploaded agent still does not match build \(agentBuildHash.prefix(12))"
                    : "agent did not start: \(tail.summary ?? "\(end)")"
                opened.resume(throwing: SSHError.channel(host: endpoint.host, message: why))
                return
            }
            let reason: ChannelCloseReason
            if let v = decoder.violation {
                reason = .protocolViolation(v)
            } else {
                switch end {
                case .endOfFile: reason = .endOfStream(tail.summary)
                case .closedLocally: reason = .closedByController
                case .connectionLost(let why): reason = .transportError("SSH connection to \(endpoint.host) lost: \(why)")
                }
            }
            handler(.closed(reason))
            return
        }
    }
}

final class SSHAgentChannel: AgentChannel {
    let control: SSHStreamControl
    init(control: SSHStreamControl) { self.control = control }

    func send(_ message: ControllerMessage) -> Bool {
        guard let line = try? AgentWire.encodeLine(message) else { return false }
        return control.send(line)
    }

    func close() { control.close() }
}
