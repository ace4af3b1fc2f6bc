import AgentCore
import AgentProtocol
import RingmasterModel
import SystemUtilities

/// One simulated node's agent: the real agent's logic (`AgentCore`) with virtual ranks instead of processes.
/// Bytes of the real protocol go in (`receive`) and come out (`takeOutput`); the time is an input, so a test
/// drives it on a manual clock. What the core asks of its shell is done here, in memory: a spawn makes a
/// `VirtualRank` with a virtual pid (above the kernel's `pid_max`, so no real process can ever be signalled by
/// mistake), a group signal reaches that rank, and a rank's reports reach the core as datagrams on its
/// report socket would. The only effect outside it is the checkpoint folders its ranks "write", which it
/// hands to the shell (`takeStepDirectories`).
public struct SimulatedAgent: Sendable {
    public let node: NodeID
    public let settings: SimulationSettings
    public private(set) var core: AgentCore
    public private(set) var ranks: [RankRef: VirtualRank] = [:]
    private var byPID: [Int32: RankRef] = [:]
    private let pidBase: Int32
    private var spawned: Int32 = 0
    private var output: [UInt8] = []
    private var stepDirectories: [String] = []
    private var inputs: [AgentInput] = []
    /// Set once the core has exited (its channel then ends).
    public private(set) var exited = false
    /// The core's diagnostic lines (the real agent's stderr), the newest few.
    public private(set) var log: [String] = []

    /// The first virtual pid: above Linux's largest `pid_max` (2^22).
    public static let firstVirtualPID: Int32 = 1 << 23

    /// - Parameters:
    ///   - index: the node's place in its cluster; it picks the node's range of virtual pids.
    public init(node: NodeID, index: Int, settings: SimulationSettings, heartbeat: HeartbeatSettings,
                shutdownGrace: Duration = .seconds(2)) {
        self.node = node
        self.settings = settings
        pidBase = Self.firstVirtualPID + Int32(truncatingIfNeeded: index % 8192) * 65_536
        core = AgentCore(configuration: AgentConfiguration(
            heartbeatInterval: heartbeat.interval, shutdownGrace: shutdownGrace,
            stateDirectory: "/simulated/\(node.rawValue)", agentPID: pidBase,
            controllerSilenceLimit: heartbeat.agentSilenceLimit, reportBatchInterval: heartbeat.reportBatch))
    }

    /// The agent's pid as its `hello` says (virtual).
    public var agentPID: Int32 { pidBase }

    /// When something is next due: a heartbeat, a kill deadline, a rank's step.
    public var nextWake: Duration? {
        guard !exited else { return nil }
        let rankWake = ranks.values.lazy.compactMap(\.nextStepAt).min()
        return [core.nextWake, rankWake].compactMap { $0 }.min()
    }

    /// The agent is up: `hello` with `accelerators` goes out, heartbeats start.
    public mutating func begin(accelerators: [Accelerator], now: Duration) {
        let facts = HostFacts(hostname: node.rawValue, os: "simulated", kernel: "simulated", cpuModel: "simulated CPU",
                              cpuCount: 64, memoryBytes: 1 << 40)
        feed(.begin(Hello(buildHash: "simulated", agentPID: agentPID, host: facts, accelerators: accelerators)), now: now)
    }

    /// Bytes from the controller, in any split.
    public mutating func receive(_ bytes: [UInt8], now: Duration) {
        advanceRanks(to: now)
        feed(.controllerBytes(bytes), now: now)
    }

    /// The controller's side of the channel closed: the agent stops its ranks and exits, as the real one does.
    public mutating func controllerClosed(now: Duration) {
        advanceRanks(to: now)
        feed(.controllerClosed(reason: "stdin closed"), now: now)
    }

    /// Whatever is due at `now`.
    public mutating func tick(now: Duration) {
        advanceRanks(to: now)
        feed(.tick, now: now)
    }

    /// The protocol bytes written to the controller since the last call.
    public mutating func takeOutput() -> [UInt8] {
        defer { output.removeAll(keepingCapacity: true) }
        return output
    }

    /// Checkpoint step folders the ranks reported since the last call; the shell makes them before it delivers
    /// the output that reports them.
    public mutating func takeStepDirectories() -> [String] {
        defer { stepDirectories.removeAll() }
        return stepDirectories
    }

    // MARK: Ranks

    private mutating func advanceRanks(to now: Duration) {
        for ref in ranks.keys.sorted(by: RankRef.inRankOrder) {
            guard var rank = ranks[ref], let due = rank.nextStepAt, due <= now else { continue }
            let lines = rank.advance(to: now)
            ranks[ref] = rank
            if !lines.isEmpty {
                if let dir = rank.program.checkpointDirectory {
                    for line in lines where line.hasPrefix("checkpoint ") { stepDirectories.append("\(dir)/step-\(line.dropFirst(11))") }
                }
                feed(.rankReport(ref, datagram: Array((lines.joined(separator: "\n") + "\n").utf8)), now: now)
            }
            if let how = rank.termination { reap(ref, how, now: now) }
        }
    }

    private mutating func reap(_ ref: RankRef, _ how: POSIX.Termination, now: Duration) {
        feed(.rankExited(ref, how, finalReports: []), now: now)
    }

    // MARK: The core's shell

    private mutating func feed(_ input: AgentInput, now: Duration) {
        inputs.append(input)
        guard inputs.count == 1 else { return }
        while let next = inputs.first {
            for action in core.handle(next, now: now) { perform(action, now: now) }
            inputs.removeFirst()
        }
    }

    private mutating func perform(_ action: AgentAction, now: Duration) {
        switch action {
        case .send(let message):
            emit(message)
        case .sendHeartbeat(let plan):
            let busy = ranks.isEmpty ? 0.02 : 0.9
            let load = HostLoad(cpuBusy: busy, loadAverage1m: Double(ranks.count), memoryUsedBytes: UInt64(ranks.count) << 34,
                                memoryTotalBytes: 1 << 40)
            let rss = Dictionary(plan.ranks.map { ($0.pid, UInt64(4) << 30) }, uniquingKeysWith: { a, _ in a })
            emit(.heartbeat(plan.heartbeat(load: load, rssBytes: rss, agentRSSBytes: 24 << 20)))
        case .spawn(let spawn):
            let request = spawn.request
            switch VirtualRankProgram.parse(argv: request.argv, env: request.env, settings: settings) {
            case .success(let program):
                spawned += 1
                let pid = pidBase + spawned % 65_535 + 1
                ranks[request.rank] = VirtualRank(ref: request.rank, pid: pid, program: program, seed: settings.seed, now: now)
                byPID[pid] = request.rank
                inputs.append(.spawned(request.rank, pid: pid))
            case .failure(let refusal):
                inputs.append(.spawnFailed(request.rank, reason: refusal.description))
            }
        case .startWarm(let spec):
            // Virtual ranks run no interpreter: a warm launch starts a virtual rank like any other.
            inputs.append(.warmStartFailed(spec, reason: "a simulated node keeps no interpreters"))
        case .signalGroup(let pid, let signal):
            guard let ref = byPID[pid], var rank = ranks[ref] else { return }
            let ended = rank.signal(signal, now: now)
            ranks[ref] = rank
            if ended, let how = rank.termination { inputs.append(.rankExited(ref, how, finalReports: [])) }
        case .relay(let ref, let line):
            ranks[ref]?.relayed(line)
        case .rekey(let old, let new):
            // Virtual ranks never answer `abandon`, so the controller never asks one to rejoin; kept consistent anyway.
            if var rank = ranks.removeValue(forKey: old) {
                rank.ref = new
                ranks[new] = rank
                byPID[rank.pid] = new
            }
        case .closeRank(let ref):
            if let rank = ranks.removeValue(forKey: ref) { byPID[rank.pid] = nil }
        case .log(let line):
            log.append(line)
            if log.count > 16 { log.removeFirst() }
        case .exit:
            exited = true
            ranks.removeAll()
            byPID.removeAll()
        }
    }

    private mutating func emit(_ message: AgentMessage) {
        guard let line = try? AgentWire.encodeLine(message) else { return }
        output += line
    }
}
