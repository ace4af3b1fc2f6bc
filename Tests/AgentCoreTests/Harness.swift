import AgentCore
import AgentProtocol
import RingmasterModel
import Testing

/// An `AgentCore` driven by a manual clock (milliseconds from zero), as the shell would drive it. A class, so
/// that a step can be taken inside `#expect`.
final class Harness {
    var core: AgentCore
    private(set) var now: Duration = .zero

    static let hello = Hello(
        buildHash: "abc", agentPID: 42,
        host: HostFacts(hostname: "node-a", os: "Linux", kernel: "6.1", cpuModel: "cpu", cpuCount: 2, memoryBytes: 1 << 30),
        accelerators: [])

    static func configuration(
        heartbeat: Duration = .seconds(1), grace: Duration = .milliseconds(500), maxPendingLogBytes: Int = 128 * 1024
    ) -> AgentConfiguration {
        AgentConfiguration(
            heartbeatInterval: heartbeat, shutdownGrace: grace, maxPendingLogBytes: maxPendingLogBytes,
            defaultPath: "/agent/bin", stateDirectory: "/state", agentPID: 42)
    }

    init(_ configuration: AgentConfiguration = Harness.configuration()) {
        core = AgentCore(configuration: configuration)
        let first = core.handle(.begin(Self.hello), now: .zero)
        #expect(first == [.send(.hello(Self.hello))])
    }

    /// Moves the clock to `ms` (never backwards) and hands `input` to the core.
    @discardableResult
    func at(_ ms: Int, _ input: AgentInput) -> [AgentAction] {
        let t = Duration.milliseconds(ms)
        precondition(t >= now, "the monotonic clock never goes back")
        now = t
        return core.handle(input, now: now)
    }

    /// The controller's messages as the bytes of one read.
    @discardableResult
    func at(_ ms: Int, controller messages: ControllerMessage...) -> [AgentAction] {
        at(ms, .controllerBytes(messages.flatMap { try! AgentWire.encodeLine($0) }))
    }

    /// Launches `rank` and answers the spawn with `pid`; returns every action of both steps.
    @discardableResult
    func launch(_ rank: Int, pid: Int32, at ms: Int = 0, argv: [String] = ["train"]) -> [AgentAction] {
        let ref = rankRef(rank)
        var actions = at(ms, controller: .launch(LaunchRequest(rank: ref, argv: argv, logDir: "/logs")))
        #expect(actions.spawns.map(\.request.rank) == [ref])
        actions += at(ms, .spawned(ref, pid: pid))
        return actions
    }
}

func rankRef(_ rank: Int, attempt: Int = 1) -> RankRef { RankRef(job: "job", attempt: attempt, rank: rank) }

let SIGTERM: Int32 = 15
let SIGKILL: Int32 = 9
let SIGINT: Int32 = 2

extension [AgentAction] {
    var messages: [AgentMessage] { compactMap { if case .send(let m) = $0 { m } else { nil } } }
    var spawns: [RankSpawn] { compactMap { if case .spawn(let s) = $0 { s } else { nil } } }
    var signals: [Signalled] { compactMap { if case .signalGroup(let p, let s) = $0 { Signalled(pid: p, signal: s) } else { nil } } }
    var heartbeats: [HeartbeatPlan] { compactMap { if case .sendHeartbeat(let h) = $0 { h } else { nil } } }
    var logBatches: [LogBatch] { messages.compactMap { if case .log(let b) = $0 { b } else { nil } } }
    var exits: [RankExited] { messages.compactMap { if case .exited(let e) = $0 { e } else { nil } } }
    var exitAction: [Int32]? { lazy.compactMap { if case .exit(let pids) = $0 { pids } else { nil } }.first }
}

struct Signalled: Hashable, CustomStringConvertible {
    var pid: Int32
    var signal: Int32
    var description: String { "signal \(signal) → -\(pid)" }
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
