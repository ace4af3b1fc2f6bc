import AgentProtocol
import Foundation
import NodeManager
import RingmasterModel
import RingmasterSSHTestKit
import RingmasterTestKit
import SSHNodes
import Synchronization
import SystemUtilities
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The 4-host network-namespace cluster: real sshds, real SSH, real agents.
@Suite(.serialized, .timeLimit(.minutes(3)), .enabled(if: TestEnvironment.canRunRootTests, Comment(rawValue: TestEnvironment.skipMessage)))
struct NetnsClusterTests {
    /// Creates a cluster, runs `body`, and always destroys the cluster.
    func withCluster(startSSHD: @escaping (Int) -> Bool = { _ in true }, _ body: (NetnsCluster) async throws -> Void) async throws {
        try TestEnvironment.requireRoot()
        let cluster = try await NetnsCluster.create(startSSHD: startSSHD)
        do {
            try await body(cluster)
        } catch {
            await cluster.destroy()
            throw error
        }
        await cluster.destroy()
    }

    func manager(_ cluster: NetnsCluster, inventory: ClusterInventory? = nil, deployments: Deployments? = nil) throws -> NodeManager {
        try NetnsNodes.manager(cluster, inventory: inventory, deployments: deployments)
    }

    static let all: Set<NodeID> = ["h1", "h2", "h3", "h4"]

    @Test func allFourDiscoveredAgentUploadedOnceThenCurrent() async throws {
        try await withCluster { cluster in
            let deployments = Deployments()
            var times: [Duration] = []
            for round in 0..<2 {
                let m = try manager(cluster, deployments: deployments)
                let t0 = ContinuousClock.now
                m.start()
                #expect(try await withTimeout(.seconds(30), "4 hosts ready") {
                    await m.waitUntil { s in Self.all.allSatisfy { s[$0] == .ready } }
                }, "\(m.eventHistory())")
                times.append(ContinuousClock.now - t0)
                for s in m.statuses() {
                    #expect(s.hello?.accelerators.count == 2)
                    #expect(s.hello?.buildHash == (try POSIX.sha256(ofFile: TestEnvironment.agentExecutable)))
                }
                if round == 0 {
                    #expect(deployments.all.filter(\.uploaded).count >= 1)
                } else {
                    #expect(deployments.all.suffix(4).allSatisfy { !$0.uploaded })
                }
                await m.shutdown()
            }
            for d in deployments.all {
                print(String(format: "deploy %@: uploaded %@ connect %.3f s start %.3f s upload %.3f s", d.node.rawValue, "\(d.uploaded)", d.connectSeconds, d.startSeconds, d.uploadSeconds))
            }
            let upload = deployments.all.filter(\.uploaded).map(\.uploadSeconds).max() ?? 0
            print("netns discovery: first (with upload) \(times[0]), agent current \(times[1]); slowest upload \(upload) s of \(deployments.all.first?.bytes ?? 0) bytes")
        }
    }

    @Test func wrongHostKeyIsRefusedForThatHostOnly() async throws {
        try await withCluster { cluster in
            let other = try await SSHKeyPair.generate(at: cluster.directory.file("impostor"))
            let fields = try other.publicKeyLine().split(separator: " ")
            var lines = try String(contentsOfFile: cluster.knownHostsFile, encoding: .utf8).split(separator: "\n").map(String.init)
            lines[1] = "10.213.0.12 \(fields[0]) \(fields[1])"
            let known = try cluster.directory.write("known_hosts_wrong", lines.joined(separator: "\n") + "\n")
            let m = try manager(cluster, inventory: cluster.inventory(knownHosts: known))
            m.start()
            #expect(try await withTimeout(.seconds(20), "settled") {
                await m.waitUntil { s in s["h2"] == .unreachable && ["h1", "h3", "h4"].allSatisfy { s[NodeID($0)] == .ready } }
            })
            let cause = m.status(of: "h2")?.cause ?? ""
            #expect(cause.contains("10.213.0.12") && cause.contains("CHANGED") && cause.contains("SHA256:"), "\(cause)")
            await m.shutdown()
        }
    }

    @Test func wrongClientKeyIsRefused() async throws {
        try await withCluster { cluster in
            let stranger = try await SSHKeyPair.generate(at: cluster.directory.file("stranger"))
            let m = try manager(cluster, inventory: cluster.inventory(identityFile: stranger.privateKey))
            m.start()
            #expect(try await withTimeout(.seconds(20), "all unreachable") {
                await m.waitUntil { s in Self.all.allSatisfy { s[$0] == .unreachable } }
            })
            #expect(m.statuses().allSatisfy { $0.cause?.contains("authentication of root@") == true })
            await m.shutdown()
        }
    }

    @Test func hostDownAtStartJoinsWhenItComesUp() async throws {
        try await withCluster(startSSHD: { $0 != 3 }) { cluster in
            let m = try manager(cluster)
            let t0 = ContinuousClock.now
            m.start()
            #expect(try await withTimeout(.seconds(20), "others ready, h3 unreachable") {
                await m.waitUntil { s in s["h3"] == .unreachable && ["h1", "h2", "h4"].allSatisfy { s[NodeID($0)] == .ready } }
            })
            // The others are ready while h3 still refuses: a host that is down holds up no other (the time is
            // printed, not bounded: a loaded machine stretches it, and the order is what matters).
            let othersReady = ContinuousClock.now - t0
            try await cluster.hosts[2].sshd.launch()
            #expect(try await withTimeout(.seconds(20), "h3 joins") { await m.waitUntil { $0["h3"] == .ready } })
            let h3 = m.eventHistory().filter { $0.node == "h3" }.map(\.to)
            #expect(h3.first == .connecting && h3.last == .ready && h3.contains(.unreachable))
            print("host down at start: others ready after \(othersReady); h3 events \(h3.map(\.rawValue))")
            await m.shutdown()
        }
    }

    /// The session's end is seen on the channel at once (not by missed heartbeats): the cause says so. The
    /// wait is a limit (30 s, ten heartbeat bounds, for a loaded machine); the time is printed.
    @Test func sshdKilledMidSessionMakesNodeLostByItsChannel() async throws {
        try await withCluster { cluster in
            let m = try manager(cluster)
            m.start()
            #expect(try await withTimeout(.seconds(20), "ready") { await m.waitUntil { s in Self.all.allSatisfy { s[$0] == .ready } } })
            let t0 = ContinuousClock.now
            await cluster.killSSHD(2)
            #expect(try await withTimeout(.seconds(30), "h2 lost") { await m.waitUntil { $0["h2"] == .lost } })
            print("sshd killed: h2 lost after \(ContinuousClock.now - t0); cause: \(m.status(of: "h2")?.cause ?? "-")")
            #expect(m.status(of: "h2")?.cause?.contains("no heartbeat") == false)
            #expect(["h1", "h3", "h4"].allSatisfy { m.status(of: NodeID($0))?.state == .ready })
            await m.shutdown()
        }
    }

    /// A cut link is silent: only missed heartbeats tell. The node manager's own account (its cause: "no
    /// heartbeat for T (limit L)") shows it waited the limit and not much longer; the wall-clock wait is a
    /// limit (30 s, for a loaded machine), the time is printed.
    @Test func silentNetworkCutIsLostByMissedHeartbeats() async throws {
        try await withCluster { cluster in
            let m = try manager(cluster)
            m.start()
            #expect(try await withTimeout(.seconds(20), "ready") { await m.waitUntil { s in Self.all.allSatisfy { s[$0] == .ready } } })
            let t0 = ContinuousClock.now
            try await ChildProcess.run(["ip", "-n", cluster.hosts[3].namespace, "link", "set", "eth0", "down"], mergeStderr: true).check()
            #expect(try await withTimeout(.seconds(30), "h4 lost") { await m.waitUntil { $0["h4"] == .lost } })
            let after = ContinuousClock.now - t0
            let cause = m.status(of: "h4")?.cause ?? ""
            #expect(cause.contains("no heartbeat"), "\(cause)")
            #expect(cause.contains("(limit 3s)"), "\(cause)")
            print("network cut: h4 lost after \(after)")
            await m.shutdown()
        }
    }

    @Test func floodingRankAndKilledAgentOverSSH() async throws {
        try await withCluster { cluster in
            let m = try manager(cluster)
            let inbox = Mutex<(forwarded: UInt64, dropped: UInt64, exits: [RankRef: RankExited], pids: [RankRef: pid_t])>((0, 0, [:], [:]))
            let reader = Task {
                for await msg in m.messages {
                    inbox.withLock { s in
                        switch msg.message {
                        case .log(let b):
                            s.forwarded += b.lines.reduce(0) { $0 + UInt64($1.utf8.count + 1) }
                            s.dropped += b.droppedBytes
                        case .exited(let e): s.exits[e.rank] = e
                        case .started(let st): s.pids[st.rank] = st.pid
                        default: break
                        }
                    }
                }
            }
            m.start()
            #expect(try await withTimeout(.seconds(20), "ready") { await m.waitUntil { s in Self.all.allSatisfy { s[$0] == .ready } } })
            // A rank printing 100 MB on h1.
            let flood = RankRef(job: "flood", attempt: 1, rank: 0)
            let total: UInt64 = 100_000_000
            m.send(.launch(LaunchRequest(
                rank: flood, argv: ["sh", "-c", "yes 'flood flood flood flood flood flood' | head -c \(total)"],
                logDir: cluster.directory.file("logs/flood"))), to: "h1")
            try await eventually("flood exited", within: .seconds(60), every: .milliseconds(50)) { inbox.withLock { $0.exits[flood] != nil } }
            let (fwd, drop) = inbox.withLock { ($0.forwarded, $0.dropped) }
            #expect(inbox.withLock { $0.exits[flood]?.status } == 0)
            #expect(fwd + drop >= total * 9 / 10)
            try await eventually("a heartbeat after the flood", within: .seconds(30)) { (m.status(of: "h1")?.lastHeartbeat?.sequence ?? 0) >= 2 }
            let rss = m.status(of: "h1")?.lastHeartbeat?.agentRSSBytes ?? 0
            print("ssh flood: forwarded \(fwd) dropped \(drop); agent RSS \(rss / 1024) KiB")
            #expect(rss < 64 << 20)

            // Agent killed → its ranks gone, node lost.
            let sleeper = RankRef(job: "sleep", attempt: 1, rank: 0)
            m.send(.launch(LaunchRequest(rank: sleeper, argv: ["sleep", "1000"], logDir: cluster.directory.file("logs/sleep"))), to: "h2")
            try await eventually("sleeper started", within: .seconds(10)) { inbox.withLock { $0.pids[sleeper] != nil } }
            let rankPID = try #require(inbox.withLock { $0.pids[sleeper] })
            let agentPID = try #require(m.status(of: "h2")?.hello?.agentPID)
            #expect(processIsAlive(rankPID))
            kill(agentPID, SIGKILL)
            try await eventually("rank gone", within: .seconds(30)) { !processIsAlive(rankPID) }
            #expect(try await withTimeout(.seconds(30), "h2 lost") { await m.waitUntil { $0["h2"] == .lost } })
            await m.shutdown()
            await reader.value
        }
    }
}
