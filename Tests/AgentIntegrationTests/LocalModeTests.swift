import AgentProtocol
import Foundation
import NodeManager
import RingmasterModel
import RingmasterTestKit
import SystemUtilities
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Real agents as child processes over pipes (local mode): discovery, launch, logs, reports, signals,
/// exit latency, no orphans.
@Suite(.serialized, .timeLimit(.minutes(3))) struct LocalModeTests {
    static func localInventory(_ n: Int, heartbeat: Duration = .milliseconds(200), reportBatch: Duration? = nil) -> ClusterInventory {
        ClusterInventory(
            name: "local",
            nodes: (0..<n).map { NodeEntry(id: NodeID("local-\($0)"), host: "localhost", accelerators: Accelerator.simulated(count: 2, node: "local-\($0)")) },
            heartbeat: HeartbeatSettings(interval: heartbeat, missed: 3, reportBatch: reportBatch), isLocal: true)
    }

    /// A started local cluster and a message reader that keeps what arrives.
    final class Harness: Sendable {
        let manager: NodeManager
        let dir: TemporaryDirectory
        let inbox = Inbox()
        let reader: Task<Void, Never>

        init(nodes: Int = 2, heartbeat: Duration = .milliseconds(200), grace: Int? = 500, reportBatch: Duration? = nil) async throws {
            dir = try TemporaryDirectory(prefix: "rm-local")
            let transport = try LocalAgentTransport(agentExecutable: TestEnvironment.agentExecutable, shutdownGraceMilliseconds: grace)
            manager = NodeManager(inventory: LocalModeTests.localInventory(nodes, heartbeat: heartbeat, reportBatch: reportBatch),
                                  transport: transport)
            let (m, inbox) = (manager, inbox)
            reader = Task { for await msg in m.messages { inbox.add(msg) } }
            manager.start()
            let ids = Set(manager.inventory.nodes.map(\.id))
            let ready = try await withTimeout(.seconds(20), "local agents ready") {
                await m.waitUntil { states in ids.allSatisfy { states[$0] == .ready } }
            }
            #expect(ready)
        }

        func launch(_ argv: [String], rank: Int = 0, node: NodeID = "local-0", env: [String: String] = [:]) -> RankRef {
            let ref = RankRef(job: "job", attempt: 1, rank: rank)
            let ok = manager.send(
                .launch(LaunchRequest(rank: ref, argv: argv, env: env, cwd: dir.path, logDir: dir.file("logs"))), to: node)
            #expect(ok)
            return ref
        }

        func started(_ ref: RankRef) async throws -> pid_t {
            try await inbox.first("started \(ref)") { if case .started(let s) = $0.message, s.rank == ref { return s.pid } else { return nil } }
        }

        func exited(_ ref: RankRef, within: Duration = .seconds(10)) async throws -> RankExited {
            try await inbox.first("exited \(ref)", within: within) { if case .exited(let e) = $0.message, e.rank == ref { return e } else { return nil } }
        }

        func close() async {
            await manager.shutdown()
            await reader.value
        }
    }

    @Test func discoversLocalNodesWithSimulatedAccelerators() async throws {
        let h = try await Harness(nodes: 3)
        for status in h.manager.statuses() {
            let hello = try #require(status.hello)
            #expect(hello.protocolVersion == AgentProtocolVersion.current)
            #expect(hello.accelerators.count == 2)
            #expect(hello.accelerators.allSatisfy { $0.kind == .simulated })
            #expect(hello.host.cpuCount >= 1)
            #expect(hello.host.memoryBytes > 0)
            #expect(hello.buildHash == (try POSIX.sha256(ofFile: TestEnvironment.agentExecutable)))
        }
        // Heartbeats flow at the inventory's interval.
        _ = try await h.inbox.first("heartbeat") { if case .heartbeat(let hb) = $0.message, hb.sequence >= 2 { return hb } else { return nil } }
        await h.close()
    }

    @Test func launchStreamsLogsAndReportsExitStatus() async throws {
        let h = try await Harness(nodes: 1)
        let ref = h.launch(["sh", "-c", "echo out-1; echo err-1 >&2; echo out-2; exit 3"])
        let pid = try await h.started(ref)
        #expect(pid > 0)
        let exit = try await h.exited(ref)
        #expect(exit.status == 3 && exit.signal == nil)
        let lines = h.inbox.logLines(ref)
        #expect(lines[.stdout] == ["out-1", "out-2"])
        #expect(lines[.stderr] == ["err-1"])
        let stdoutFile = try String(contentsOfFile: h.dir.file("logs/rank-0.stdout"), encoding: .utf8)
        #expect(stdoutFile == "out-1\nout-2\n")
        await h.close()
    }

    @Test func missingExecutableIsALaunchError() async throws {
        let h = try await Harness(nodes: 1)
        let ref = h.launch(["/nonexistent/trainer"])
        let exit = try await h.exited(ref)
        #expect(exit.status == 127)
        #expect(exit.error?.contains("not found") == true)
        await h.close()
    }

    /// A rank (python3) that sends these report datagrams, one each, and exits.
    static func reporting(_ reports: [String]) -> [String] {
        let list = reports.map { "b\"\($0)\"" }.joined(separator: ", ")
        return ["python3", "-c", """
            import os, socket
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            p = os.environ["RINGMASTER_CONTROL"]
            for m in [\(list)]:
                s.sendto(m, p)
            """]
    }

    @Test func rankReportsBecomeProgressAndCheckpoints() async throws {
        let h = try await Harness(nodes: 1, heartbeat: .milliseconds(100))
        let ref = h.launch(Self.reporting(["step 1", "metric loss 0.5", "garbage here", "checkpoint 1", "section eval 90.5", "section end", "step 2"]))
        let exit = try await h.exited(ref)
        #expect(exit.status == 0)
        let reports = h.inbox.all.compactMap { m -> String? in
            switch m.message {
            case .progress(let p) where p.rank == ref: p.step.map { "step \($0)" } ?? "metric \(p.metric!) \(p.value!)"
            case .checkpoint(let c) where c.rank == ref: "checkpoint \(c.step)"
            case .section(let s) where s.rank == ref: s.name.map { "section \($0) \(s.seconds!)" } ?? "section end"
            default: nil
            }
        }
        #expect(reports == ["step 1", "metric loss 0.5", "checkpoint 1", "section eval 90.5", "section end", "step 2"])
        _ = try await h.inbox.first("malformed count") { if case .heartbeat(let hb) = $0.message, hb.malformedReports == 1 { return true } else { return nil } }
        await h.close()
    }

    /// A real agent told to hold step reports (`--report-batch-ms`) sends them as `steps` messages, each
    /// rank's newest, and a checkpoint report takes the held steps with it first.
    @Test func heldStepReportsArriveAsStepsMessagesInOrder() async throws {
        let h = try await Harness(nodes: 1, heartbeat: .milliseconds(500), reportBatch: .milliseconds(200))
        let ref = h.launch(Self.reporting(["step 1", "step 2", "checkpoint 2", "step 3"]))
        let exit = try await h.exited(ref)
        #expect(exit.status == 0)
        let reports = h.inbox.all.compactMap { m -> String? in
            switch m.message {
            case .steps(let b) where b.job == ref.job && b.attempt == ref.attempt: "steps \(b.ranks) \(b.steps)"
            case .progress(let p) where p.rank == ref: "progress \(p.step ?? -1)"
            case .checkpoint(let c) where c.rank == ref: "checkpoint \(c.step)"
            case .exited(let e) where e.rank == ref: "exited"
            default: nil
            }
        }
        // Steps 1 and 2 leave together unless the window closed between the rank's two sends (a loaded machine).
        let r = ref.rank
        let together = ["steps [\(r)] [2]", "checkpoint 2", "steps [\(r)] [3]", "exited"]
        let apart = ["steps [\(r)] [1]"] + together
        #expect(reports == together || reports == apart, "\(reports)")
        await h.close()
    }

    /// `checkpoint-now` through a real agent to a rank of the Python package: the agent relays it to the
    /// address the rank reports from, `ringmaster.checkpoint_requested` answers it at the step it names, and
    /// the rank's `checkpoint` report comes back. The rank stands at the end of step 2 until asked (it polls;
    /// no timing is involved) and gives up after 60 s.
    @Test func aCheckpointNowRequestReachesAPythonRankThroughTheAgent() async throws {
        let h = try await Harness(nodes: 1, heartbeat: .milliseconds(100))
        let script = """
            import sys, time
            import ringmaster
            ringmaster.step(1)
            assert not ringmaster.checkpoint_requested(1)
            ringmaster.step(2)
            deadline = time.monotonic() + 60
            while not ringmaster.checkpoint_requested(2):
                if time.monotonic() > deadline:
                    sys.exit(3)
                time.sleep(0.01)
            ringmaster.checkpoint(2)
            """
        let ref = h.launch(["python3", "-c", script], env: ["PYTHONPATH": BuiltProducts.packageRoot + "/python"])
        _ = try await h.inbox.first("step 2") { if case .progress(let p) = $0.message, p.rank == ref, p.step == 2 { return true } else { return nil } }
        // A request for a step the rank has passed is ignored; the one for its step is answered.
        #expect(h.manager.send(.checkpointNow(CheckpointNowRequest(rank: ref, step: 1)), to: "local-0"))
        #expect(h.manager.send(.checkpointNow(CheckpointNowRequest(rank: ref, step: 2)), to: "local-0"))
        let saved = try await h.inbox.first("checkpoint 2") { if case .checkpoint(let c) = $0.message, c.rank == ref { return c.step } else { return nil } }
        #expect(saved == 2)
        let exit = try await h.exited(ref, within: .seconds(60))
        #expect(exit.status == 0)
        await h.close()
    }

    /// The agent reports an exit when it happens, not with its next heartbeat: with heartbeats 60 s apart, an
    /// exit that waited for one would take up to 60 s; the bound is half of that (the exits take milliseconds
    /// here — printed — and the margin is for a loaded machine).
    @Test func exitedArrivesWithoutWaitingForAHeartbeat() async throws {
        let heartbeat = Duration.seconds(60)
        let h = try await Harness(nodes: 1, heartbeat: heartbeat)
        var worst = Duration.zero
        for i in 0..<5 {
            let ref = h.launch(["sleep", "1000"], rank: i)
            let pid = try await h.started(ref)
            let t0 = ContinuousClock.now
            kill(pid, SIGKILL)
            let exit = try await h.exited(ref, within: heartbeat / 2)
            let latency = ContinuousClock.now - t0
            worst = max(worst, latency)
            #expect(exit.signal == SIGKILL)
        }
        print("exit notifications: the slowest of 5 took \(worst)")
        #expect(worst < heartbeat / 2, "worst exit notification latency \(worst)")
        await h.close()
    }

    @Test func signalEscalatesToSIGKILLAfterGrace() async throws {
        let h = try await Harness(nodes: 1)
        // The rank ignores SIGTERM (and so does its child, which inherits the disposition).
        let ref = h.launch(["sh", "-c", "trap '' TERM; echo ready; sleep 1000"])
        _ = try await h.started(ref)
        _ = try await h.inbox.first("rank ready") { m -> Bool? in
            if case .log(let b) = m.message, b.rank == ref, b.lines.contains("ready") { return true } else { return nil }
        }
        let t0 = ContinuousClock.now
        h.manager.send(.signal(SignalRequest(rank: ref, signal: SIGTERM, graceMilliseconds: 300)), to: "local-0")
        let exit = try await h.exited(ref)
        #expect(exit.signal == SIGKILL)
        #expect(ContinuousClock.now - t0 >= .milliseconds(300))
        await h.close()
    }

    @Test func heartbeatsCarryPerRankRSS() async throws {
        let h = try await Harness(nodes: 1, heartbeat: .milliseconds(100))
        let ref = h.launch(["sleep", "1000"])
        let pid = try await h.started(ref)
        let usage = try await h.inbox.first("rank usage") { m -> RankUsage? in
            if case .heartbeat(let hb) = m.message { return hb.ranks.first { $0.rank == ref && $0.rssBytes > 0 } }
            return nil
        }
        #expect(usage.pid == pid)
        await h.close()
    }

    @Test func closingTheChannelStopsEveryRankAndTheAgent() async throws {
        let h = try await Harness(nodes: 1)
        let agentPID = try #require(h.manager.status(of: "local-0")?.hello?.agentPID)
        var pids: [pid_t] = []
        for i in 0..<3 {
            let ref = h.launch(["sh", "-c", "sleep 1000 & wait"], rank: i)
            pids.append(try await h.started(ref))
        }
        #expect(pids.allSatisfy(processIsAlive))
        await h.close()  // the agent's stdin closes
        let rankPIDs = pids
        try await eventually("ranks and agent gone", within: .seconds(30)) {
            !rankPIDs.contains(where: processIsAlive) && !processIsAlive(agentPID)
        }
    }

    @Test func killedAgentTakesItsRanksAlong() async throws {
        let h = try await Harness(nodes: 1)
        let agentPID = try #require(h.manager.status(of: "local-0")?.hello?.agentPID)
        let ref = h.launch(["sleep", "1000"])
        let pid = try await h.started(ref)
        kill(agentPID, SIGKILL)
        try await eventually("rank gone after the agent was killed", within: .seconds(30)) { !processIsAlive(pid) }
        #expect(try await withTimeout(.seconds(30), "node lost") { await h.manager.waitUntil { $0["local-0"] == .lost } })
        await h.close()
    }

    @Test func floodingRankCannotExhaustAgentMemory() async throws {
        let h = try await Harness(nodes: 1, heartbeat: .milliseconds(100))
        let agentPID = try #require(h.manager.status(of: "local-0")?.hello?.agentPID)
        let total = 200_000_000
        let ref = h.launch(["sh", "-c", "yes 'flood flood flood flood flood flood flood flood' | head -c \(total)"])
        _ = try await h.started(ref)
        let sampler = Task {
            var peak: UInt64 = 0
            while !Task.isCancelled {
                peak = max(peak, residentBytes(of: agentPID) ?? 0)
                try? await Task.sleep(for: .milliseconds(20))
            }
            return peak
        }
        let exit = try await h.exited(ref, within: .seconds(120))
        sampler.cancel()
        let peak = await sampler.value
        #expect(exit.status == 0)
        let (forwarded, dropped) = h.inbox.logVolume(ref)
        #expect(forwarded + dropped >= UInt64(total) * 9 / 10, "forwarded \(forwarded) dropped \(dropped)")
        #expect(peak < 64 << 20, "agent peak RSS \(peak)")
        #expect(h.manager.messages.bufferedCost <= h.manager.messages.capacity)
        let size = try FileManager.default.attributesOfItem(atPath: h.dir.file("logs/rank-0.stdout"))[.size] as? UInt64
        #expect(size == UInt64(total))
        print("flood: \(total) bytes, forwarded \(forwarded), dropped \(dropped), agent peak RSS \(peak / 1024) KiB")
        await h.close()
    }

    /// The connection ends, and the process that broke the protocol (it would not stop when its stdin closed)
    /// is killed once the agents' exit limit has passed (grace + exit bound + 10 s): nothing outlives it.
    @Test func malformedAgentOutputEndsOnlyThatConnectionAndItsProcess() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let pidFile = dir.file("fake.pid")
        let fake = try dir.write("fake-agent", "#!/bin/sh\necho $$ > \(pidFile)\necho 'this is not json'\nexec sleep 1000\n", mode: 0o755)
        let transport = try LocalAgentTransport(agentExecutable: fake, shutdownGraceMilliseconds: 100)
        let inventory = ClusterInventory(name: "bad", nodes: [NodeEntry(id: "bad", host: "localhost")], isLocal: true)
        let manager = NodeManager(inventory: inventory, transport: transport, backoff: BackoffPolicy(initial: .seconds(60)))
        manager.start()
        #expect(try await withTimeout(.seconds(10), "unreachable") { await manager.waitUntil { $0["bad"] == .unreachable } })
        #expect(manager.status(of: "bad")?.cause?.contains("protocol violation") == true)
        let pid = try #require(pid_t(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        try await eventually("the fake agent killed", within: .seconds(90), every: .milliseconds(100)) { !processIsAlive(pid) }
        await manager.shutdown()
    }
}

/// Messages received so far, with waiting.
final class Inbox: Sendable {
    private let state = Mutex<(messages: [NodeMessage], waiters: [CheckedContinuation<Void, Never>])>(([], []))

    func add(_ m: NodeMessage) {
        let w = state.withLock { s in
            s.messages.append(m)
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        w.forEach { $0.resume() }
    }

    var all: [NodeMessage] { state.withLock { $0.messages } }

    func wakeAll() {
        let w = state.withLock { s in
            defer { s.waiters.removeAll() }
            return s.waiters
        }
        w.forEach { $0.resume() }
    }

    /// The first message `match` accepts, waiting for it at most `within`.
    func first<T: Sendable>(_ what: String, within: Duration = .seconds(10), _ match: @escaping @Sendable (NodeMessage) -> T?) async throws -> T {
        try await withTimeout(within, what) {
            var seen = 0
            while true {
                let msgs = self.all
                for m in msgs[seen...] { if let v = match(m) { return v } }
                seen = msgs.count
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                        let now = self.state.withLock { s -> Bool in
                            if s.messages.count > seen || Task.isCancelled { return true }
                            s.waiters.append(c)
                            return false
                        }
                        if now { c.resume() }
                    }
                } onCancel: {
                    self.wakeAll()
                }
                if Task.isCancelled { throw CancellationError() }
            }
        }
    }

    func logLines(_ ref: RankRef) -> [LogStream: [String]] {
        var out: [LogStream: [String]] = [:]
        for m in all { if case .log(let b) = m.message, b.rank == ref { out[b.stream, default: []] += b.lines } }
        return out
    }

    /// Bytes forwarded (lines plus newlines) and dropped.
    func logVolume(_ ref: RankRef) -> (UInt64, UInt64) {
        var f: UInt64 = 0
        var d: UInt64 = 0
        for m in all {
            if case .log(let b) = m.message, b.rank == ref {
                f += b.lines.reduce(0) { $0 + UInt64($1.utf8.count + 1) }
                d += b.droppedBytes
            }
        }
        return (f, d)
    }
}

import Synchronization
