import AgentProtocol
import Foundation
import NodeManager
import RingmasterModel
import RingmasterSSHTestKit
import RingmasterTestKit
import SSHNodes
import SSHTransport
import Synchronization
import SystemUtilities
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// sshd on 127.0.0.1 with keys made by the test.
@Suite(.serialized, .timeLimit(.minutes(3)), .enabled(if: TestEnvironment.canRunRootTests, Comment(rawValue: TestEnvironment.skipMessage)))
struct LoopbackSSHTests {
    final class Fixture: Sendable {
        let dir: TemporaryDirectory
        let client: SSHKeyPair
        let server: SSHDServer
        let knownHosts: String

        init() async throws {
            try TestEnvironment.requireRoot()
            dir = try TemporaryDirectory(prefix: "rm-sshd")
            client = try await SSHKeyPair.generate(at: dir.file("id_client"))
            server = try await SSHDServer.start(directory: dir.file("sshd"), authorizedKeys: [client])
            knownHosts = try dir.write("known_hosts", try server.knownHostsLine() + "\n")
        }

        func endpoint(knownHosts: String? = nil, identity: String? = nil, tofu: Bool = false, port: Int? = nil,
                      timeout: Duration = .seconds(3)) -> SSHEndpoint {
            SSHEndpoint(
                host: "127.0.0.1", port: port ?? server.port, user: "root", identityFile: identity ?? client.privateKey,
                knownHostsFile: knownHosts ?? self.knownHosts, trustOnFirstUse: tofu, timeout: timeout)
        }

        func connect(_ e: SSHEndpoint) async throws -> (fingerprint: String, recorded: Bool, echo: String) {
            try await onDedicatedThread(name: "test ssh") {
                let c = try SSHConnection(e)
                defer { c.disconnect() }
                return (c.hostKeyFingerprint, c.recordedHostKey, try c.run("echo hello-$((6*7))").stdout)
            }
        }

        func close() async {
            await server.stop()
        }
    }

    @Test func connectsWithKeyAndKnownHost() async throws {
        let f = try await Fixture()
        let r = try await f.connect(f.endpoint())
        #expect(r.echo == "hello-42\n")
        #expect(r.fingerprint.hasPrefix("SHA256:"))
        #expect(!r.recorded)
        await f.close()
    }

    @Test func unknownHostKeyIsRefusedUnlessTrustOnFirstUse() async throws {
        let f = try await Fixture()
        let empty = try f.dir.write("empty_known_hosts", "")
        await #expect {
            _ = try await f.connect(f.endpoint(knownHosts: empty))
        } throws: { error in
            guard case SSHError.hostKeyUnknown(let host, _, let fp, _) = error else { return false }
            return host == "127.0.0.1" && fp.hasPrefix("SHA256:")
        }
        // Trust on first use records the key; afterwards strict checking accepts it.
        let recorded = try await f.connect(f.endpoint(knownHosts: empty, tofu: true))
        #expect(recorded.recorded)
        let contents = try String(contentsOfFile: empty, encoding: .utf8)
        #expect(contents.contains("[127.0.0.1]:\(f.server.port)"))
        let again = try await f.connect(f.endpoint(knownHosts: empty))
        #expect(!again.recorded && again.echo == "hello-42\n")
        await f.close()
    }

    @Test func changedHostKeyIsRefusedNamingHostAndFingerprint() async throws {
        let f = try await Fixture()
        let other = try await SSHKeyPair.generate(at: f.dir.file("other_host_key"))
        let fields = try other.publicKeyLine().split(separator: " ")
        let wrong = try f.dir.write("wrong_known_hosts", "[127.0.0.1]:\(f.server.port) \(fields[0]) \(fields[1])\n")
        // Even with trust on first use: a changed key is never accepted.
        await #expect {
            _ = try await f.connect(f.endpoint(knownHosts: wrong, tofu: true))
        } throws: { error in
            guard case SSHError.hostKeyChanged(let host, let port, let fp, _) = error else { return false }
            let text = "\(error)"
            return host == "127.0.0.1" && port == f.server.port && text.contains(fp) && text.contains("127.0.0.1") && fp.hasPrefix("SHA256:")
        }
        await f.close()
    }

    @Test func wrongClientKeyIsRefused() async throws {
        let f = try await Fixture()
        let stranger = try await SSHKeyPair.generate(at: f.dir.file("id_stranger"))
        await #expect {
            _ = try await f.connect(f.endpoint(identity: stranger.privateKey))
        } throws: { error in
            if case SSHError.authentication(let user, _, let identity, _) = error { return user == "root" && identity == stranger.privateKey }
            return false
        }
        await f.close()
    }

    @Test func refusedPortFailsFast() async throws {
        let f = try await Fixture()
        // With a 120 s connect timeout, a refusal that waited for it would take 120 s; half of it is the
        // bound (a refusal takes milliseconds: the margin is for a loaded machine, not for the code).
        let timeout = Duration.seconds(120)
        let t0 = ContinuousClock.now
        await #expect(throws: SSHError.self) { _ = try await f.connect(f.endpoint(port: freeLoopbackPort(), timeout: timeout)) }
        let took = ContinuousClock.now - t0
        print("refused port: failed after \(took)")
        #expect(took < timeout / 2)
        await f.close()
    }

    @Test func uploadIsAtomicAndExact() async throws {
        let f = try await Fixture()
        let local = try f.dir.write("payload", String(repeating: "0123456789abcdef", count: 40_000))  // 640 000 bytes: 5 writes
        let remote = f.dir.file("remote/a/b/payload")
        let e = f.endpoint()
        let bytes = try await onDedicatedThread(name: "upload") {
            let c = try SSHConnection(e)
            defer { c.disconnect() }
            let n = try c.upload(localPath: local, to: remote)
            _ = try c.upload(localPath: local, to: remote)  // over an existing file
            return n
        }
        #expect(bytes == 640_000)
        #expect(try POSIX.sha256(ofFile: remote) == (try POSIX.sha256(ofFile: local)))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: f.dir.file("remote/a/b"))
        #expect(leftovers == ["payload"])
        var st = stat()
        stat(remote, &st)
        #expect(st.st_mode & 0o777 == 0o755)
        await f.close()
    }

    @Test func agentIsUploadedWhenMissingAndSkippedWhenCurrent() async throws {
        let f = try await Fixture()
        let deployments = Mutex<[AgentDeployment]>([])
        let transport = try SSHAgentTransport(
            agentExecutable: TestEnvironment.agentExecutable, remoteAgentRoot: f.dir.file("remote-home/.ringmaster/agent"),
            shutdownGraceMilliseconds: 500, onDeployment: { d in deployments.withLock { $0.append(d) } })
        let inventory = ClusterInventory(
            name: "loopback",
            nodes: [
                NodeEntry(
                    id: "lo", host: "127.0.0.1",
                    ssh: SSHSettings(user: "root", port: f.server.port, identityFile: f.client.privateKey, knownHosts: f.knownHosts),
                    accelerators: Accelerator.simulated(count: 1, node: "lo"))
            ], heartbeat: HeartbeatSettings(interval: .milliseconds(200), missed: 3), isLocal: false)
        for round in 0..<2 {
            let manager = NodeManager(inventory: inventory, transport: transport)
            manager.start()
            #expect(try await withTimeout(.seconds(20), "ready over ssh") { await manager.waitUntilSettled() })
            #expect(manager.status(of: "lo")?.state == .ready, "\(manager.eventHistory())")
            #expect(manager.status(of: "lo")?.hello?.buildHash == transport.agentBuildHash)
            if round == 0 {
                // A rank over SSH: launch, output, exit.
                let ref = RankRef(job: "j", attempt: 1, rank: 0)
                // The agent points ranks at the collectives library deployed beside it.
                let script = "echo over-ssh; test -r \"$RINGMASTER_LIBRARY\" && echo library $RINGMASTER_LIBRARY; exit 4"
                manager.send(.launch(LaunchRequest(rank: ref, argv: ["sh", "-c", script], logDir: f.dir.file("logs"))), to: "lo")
                var sawLine = false
                var library: String?
                for await m in manager.messages {
                    if case .log(let b) = m.message, b.lines.contains("over-ssh") { sawLine = true }
                    if case .log(let b) = m.message, let l = b.lines.first(where: { $0.hasPrefix("library ") }) { library = String(l.dropFirst(8)) }
                    if case .exited(let e) = m.message {
                        #expect(e.status == 4)
                        break
                    }
                }
                #expect(sawLine)
                #expect(library == f.dir.file("remote-home/.ringmaster/agent/\(transport.deploymentHash)/libRingmasterC.so"))
            }
            await manager.shutdown()
        }
        let d = deployments.withLock { $0 }
        #expect(d.map(\.uploaded) == [true, false])
        // The agent and the C ABI library beside it travel together, into a folder named by both.
        let library = try #require(transport.collectivesLibrary)
        func size(_ path: String) throws -> UInt64 { try FileManager.default.attributesOfItem(atPath: path)[.size] as! UInt64 }
        #expect(d.first?.bytes == (try size(TestEnvironment.agentExecutable) + size(library)))
        let folder = f.dir.file("remote-home/.ringmaster/agent/\(transport.deploymentHash)")
        #expect(transport.deploymentHash != transport.agentBuildHash)
        #expect(try POSIX.sha256(ofFile: "\(folder)/ringmaster-agent") == transport.agentBuildHash)
        #expect(try POSIX.sha256(ofFile: "\(folder)/libRingmasterC.so") == POSIX.sha256(ofFile: library))
        await f.close()
    }
}
