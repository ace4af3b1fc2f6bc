import AgentProtocol
import Foundation
import NodeManager
import RingmasterModel
import RingmasterSSHTestKit
import RingmasterTestKit
import SystemUtilities
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue #15 §4: discovery of 16 namespace hosts, each with its own sshd and its own agent directory (a tmpfs
/// per host, so the first round uploads to every host as it would to separate machines). The times are
/// printed, never bounded: a loaded machine must not fail the test.
@Suite(.serialized, .timeLimit(.minutes(5)), .enabled(if: TestEnvironment.canRunRootTests, Comment(rawValue: TestEnvironment.skipMessage)))
struct NetnsScaleTests {
    static let hostCount = 16

    @Test func sixteenHostsDiscoveredWithUploadThenWithTheAgentCurrent() async throws {
        try TestEnvironment.requireRoot()
        let scratch = try TemporaryDirectory(prefix: "rm-netns-scale")
        let made = ContinuousClock.now
        let cluster = try await NetnsCluster.create(hostCount: Self.hostCount, privateAgentRoot: scratch.file("agents"))
        print("netns scale: \(Self.hostCount) hosts (namespaces, links, sshds) made in \(ContinuousClock.now - made)")
        var agents: [pid_t] = []
        do {
            agents = try await discoverTwice(cluster)
        } catch {
            await cluster.destroy()
            throw error
        }
        let left = await cluster.destroy()
        #expect(left.isEmpty, "\(left)")
        #expect(await cluster.remainingNamespaces().isEmpty)
        let pids = agents
        try await eventually("every agent gone after destroy", within: .seconds(10)) { !pids.contains(where: processIsAlive) }
    }

    /// Every host's sshd fails to start (its private directory cannot be made): the create fails, and every
    /// namespace it made is gone.
    @Test func aCreateThatFailsLeavesNoNamespaceBehind() async throws {
        try TestEnvironment.requireRoot()
        await #expect(throws: SSHDServer.StartFailed.self) {
            _ = try await NetnsCluster.create(hostCount: Self.hostCount, privateAgentRoot: "/proc/version/agents")
        }
        // This process's clusters are named `rmt<pid % 100000><two digits>-…` (NetnsLayout.uniquePrefix).
        let ours = "rmt\(getpid() % 100_000)"
        let listed = try await ChildProcess.run(["ip", "netns", "list"], mergeStderr: true).standardOutput
        let left = listed.split(separator: "\n").map { String($0.split(separator: " ")[0]) }.filter { name in
            let rest = name.dropFirst(ours.count)
            return name.hasPrefix(ours) && rest.prefix(2).allSatisfy(\.isNumber) && rest.dropFirst(2).first == "-"
        }
        #expect(left.isEmpty, "namespaces left: \(left)")
    }

    /// Two node managers one after the other: the first uploads the agent to every host, the second finds it
    /// current. Returns the agents' pids.
    func discoverTwice(_ cluster: NetnsCluster) async throws -> [pid_t] {
        let all = Set(cluster.hosts.map { NodeID($0.name) })
        let buildHash = try POSIX.sha256(ofFile: TestEnvironment.agentExecutable)
        let deployments = Deployments()
        var times: [Duration] = []
        var agents: [pid_t] = []
        for round in ["with upload", "agent current"] {
            let before = deployments.all.count
            let m = try NetnsNodes.manager(cluster, deployments: deployments)
            let t0 = ContinuousClock.now, cpu0 = Self.processCPUSeconds()
            m.start()
            #expect(try await withTimeout(.seconds(120), "\(all.count) hosts ready (\(round))") {
                await m.waitUntil { s in all.allSatisfy { s[$0] == .ready } }
            }, "\(m.eventHistory())")
            times.append(ContinuousClock.now - t0)
            // The SSH client side (this process: encryption, SFTP) apart from the hosts' sshds on the same cores.
            print(String(format: "netns scale (%@): this process (the SSH client side) used %.2f s of CPU", round, Self.processCPUSeconds() - cpu0))
            for s in m.statuses() {
                let node = s.entry.id
                #expect(s.hello?.buildHash == buildHash, "\(node) (\(round)): hello buildHash \(s.hello?.buildHash ?? "none")")
                #expect(s.hello?.accelerators.map(\.uuid) == s.entry.accelerators.map(\.uuid),
                        "\(node) (\(round)): hello accelerators \(s.hello?.accelerators.map(\.uuid) ?? [])")
                if let pid = s.hello?.agentPID { agents.append(pid) }
            }
            let these = Array(deployments.all[before...])
            #expect(Set(these.map(\.node)) == all && these.count == all.count, "\(round): deployments \(these.map(\.node))")
            let uploadedTo = these.filter(\.uploaded).map(\.node)
            if round == "with upload" {
                #expect(uploadedTo.count == all.count, "\(round): uploaded only to \(uploadedTo)")
            } else {
                #expect(uploadedTo.isEmpty, "\(round): uploaded to \(uploadedTo)")
            }
            DeploymentReport(title: "netns scale (\(round))", deployments: these).lines.forEach { print($0) }
            await m.shutdown()
        }
        let selfHash = try await agentSelfHashTime()
        print("netns scale: \(all.count) hosts ready from start, with upload \(times[0]), agent current \(times[1]); " +
              "the agent's own start + SHA-256 of itself (`--build-hash`, one process alone): \(selfHash); " +
              "load average \(POSIX.readText("/proc/loadavg")?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?")")
        return agents
    }

    static func processCPUSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
    }

    /// How long the agent takes to start and hash its own file, the check every start makes.
    func agentSelfHashTime() async throws -> Duration {
        let t0 = ContinuousClock.now
        try await ChildProcess.run([TestEnvironment.agentExecutable, "--build-hash"], mergeStderr: true).check()
        return ContinuousClock.now - t0
    }
}
