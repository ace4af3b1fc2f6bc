import AgentCore
import AgentProtocol
import FuzzSupport
import RingmasterModel

/// An `AgentCore` driven as `ringmaster-agent` drives it, on a clock that moves a millisecond per input:
/// every spawn it asks for is answered (started, or failed every third one, so both paths run), and every
/// message it queues for the controller is checked to survive the wire.
public struct AgentDrive {
    public private(set) var core = AgentCore(configuration: AgentConfiguration(stateDirectory: "/fuzz/state", agentPID: 4242))
    /// Every action of every input, in order.
    public private(set) var actions: [AgentAction] = []
    private var now = Duration.zero
    private var spawns = 0

    public static let hello = Hello(
        buildHash: "fuzz", agentPID: 4242,
        host: HostFacts(hostname: "fuzz", os: "Linux", kernel: "6.1", cpuModel: "cpu", cpuCount: 2, memoryBytes: 1 << 30),
        accelerators: [])

    public init() {
        handle(.begin(Self.hello))
    }

    public mutating func handle(_ input: AgentInput) {
        now += .milliseconds(1)
        var pending = core.handle(input, now: now)
        while !pending.isEmpty {
            let batch = pending
            pending = []
            actions += batch
            for action in batch {
                if case .send(let message) = action { WireCheck.requireSurvives(message) }
                guard case .spawn(let spawn) = action else { continue }
                spawns += 1
                let answer: AgentInput = spawns % 3 == 0
                    ? .spawnFailed(spawn.request.rank, reason: "exec failed")
                    : .spawned(spawn.request.rank, pid: Int32(1000 + spawns))
                pending += core.handle(answer, now: now)
            }
        }
    }

    /// A running rank, launched the way the controller launches one.
    public mutating func launch(_ rank: RankRef) {
        let launch = ControllerMessage.launch(LaunchRequest(rank: rank, argv: ["train"], logDir: "/fuzz/logs"))
        handle(.controllerBytes(try! AgentWire.encodeLine(launch)))
    }
}
