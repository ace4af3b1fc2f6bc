import RingmasterModel

/// What a virtual rank does, from the simulated inventory's settings and the rank's own command line:
/// `--steps N`, `--step-time 100ms`, `--checkpoint-every K` (0: never), `--jitter 0.05`, `--startup 2s`,
/// `--exit-code C` (the status it exits with after its last step). Other words are ignored, so any job's
/// command runs on a simulated cluster; `RINGMASTER_RESUME_STEP` sets the step it starts after.
public struct VirtualRankProgram: Hashable, Sendable {
    public var stepTime: Duration
    public var checkpointEvery: Int?
    public var jitter: Double
    public var startup: Duration
    public var steps: Int?
    public var exitCode: Int32
    public var resumeStep: Int
    /// Where the rank "writes" its shards: `<dir>/step-N` is made before its `checkpoint N` (the controller
    /// writes `COMMITTED` there).
    public var checkpointDirectory: String?

    public init(settings: SimulationSettings) {
        stepTime = settings.stepTime
        checkpointEvery = settings.checkpointEvery
        jitter = settings.jitter
        startup = settings.startup
        steps = settings.steps
        exitCode = 0
        resumeStep = 0
    }

    /// The program of a launch; a malformed option is the launch's error (the rank "fails to exec").
    public static func parse(argv: [String], env: [String: String], settings: SimulationSettings) -> Result<Self, LaunchRefusal> {
        var p = VirtualRankProgram(settings: settings)
        var words = argv.dropFirst()[...]
        func value(_ option: String) throws(LaunchRefusal) -> String {
            guard let v = words.popFirst() else { throw LaunchRefusal("simulated rank: \(option) needs a value") }
            return v
        }
        func refuse(_ option: String, _ text: String, _ expected: String) -> LaunchRefusal {
            LaunchRefusal("simulated rank: \(option) \(text) is not \(expected)")
        }
        do throws(LaunchRefusal) {
            while let word = words.popFirst() {
                switch word {
                case "--steps":
                    let v = try value(word)
                    guard let n = Int(v), n >= 1 else { throw refuse(word, v, "a step count ≥ 1") }
                    p.steps = n
                case "--step-time":
                    let v = try value(word)
                    guard let d = Duration(commandLineText: v), d > .zero else { throw refuse(word, v, "a duration like 1s or 100ms") }
                    p.stepTime = d
                case "--checkpoint-every":
                    let v = try value(word)
                    guard let n = Int(v), n >= 0 else { throw refuse(word, v, "a step count ≥ 0") }
                    p.checkpointEvery = n == 0 ? nil : n
                case "--jitter":
                    let v = try value(word)
                    guard let j = Double(v), j >= 0, j < 1 else { throw refuse(word, v, "a fraction in [0, 1)") }
                    p.jitter = j
                case "--startup":
                    let v = try value(word)
                    guard let d = Duration(commandLineText: v) else { throw refuse(word, v, "a duration like 2s") }
                    p.startup = d
                case "--exit-code":
                    let v = try value(word)
                    guard let c = Int32(v), (0...255).contains(c) else { throw refuse(word, v, "an exit status 0–255") }
                    p.exitCode = c
                default:
                    continue
                }
            }
            if let text = env["RINGMASTER_RESUME_STEP"], !text.isEmpty {
                guard let n = Int(text), n >= 0 else { throw refuse("RINGMASTER_RESUME_STEP", text, "a step") }
                p.resumeStep = n
            }
        } catch {
            return .failure(error)
        }
        if let dir = env["RINGMASTER_CHECKPOINT_DIR"], !dir.isEmpty { p.checkpointDirectory = dir }
        return .success(p)
    }
}

/// Why a simulated launch fails (the controller sees the rank exit 127 with this reason, as for an exec failure).
public struct LaunchRefusal: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
