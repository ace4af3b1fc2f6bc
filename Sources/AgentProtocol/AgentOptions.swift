/// The agent's command line, built by the controller and parsed by the agent (one definition for both).
public struct AgentOptions: Hashable, Sendable {
    public enum Mode: Hashable, Sendable {
        /// Speak the protocol on stdin/stdout.
        case stdio
        /// Print the SHA-256 of the agent's executable and exit.
        case buildHash
        /// Internal: become the rank (`PR_SET_PDEATHSIG`, chdir, exec). Not for operators.
        case execRank(parentPID: Int32, cwd: String?, argv: [String])
    }

    public var mode: Mode
    /// Node name, for log lines and simulated accelerator ids.
    public var node: String?
    public var heartbeatMilliseconds: Int
    /// `N` or `N:kind`: report N simulated accelerators instead of discovering.
    public var simulateAccelerators: (count: Int, kind: String)? {
        get { simulated.map { ($0.count, $0.kind) } }
        set { simulated = newValue.map { SimulatedSpec(count: $0.count, kind: $0.kind) } }
    }
    private var simulated: SimulatedSpec?
    /// Shell command printing JSON accelerators of kinds the agent has no code for.
    public var discoveryCommand: String?
    /// Directory of the agent's control sockets (default: a fresh one under /tmp).
    public var stateDirectory: String?
    /// Grace between SIGTERM and SIGKILL when the controller goes away.
    public var shutdownGraceMilliseconds: Int
    /// The build the controller expects: when the agent's own hash differs it prints `deployMarker` and exits.
    public var expectedBuildHash: String?
    /// The controller has just uploaded this file as build `expectedBuildHash` (SFTP over SSH, renamed into
    /// place whole): the agent records that hash in its stamp (`BuildHashStamp.record`) instead of reading
    /// the file back. Sent only to the start right after an upload.
    public var justUploaded = false
    /// With a controller that pings every heartbeat interval: after this long without a byte from it, the agent
    /// stops its ranks and exits as if its channel had closed (a partitioned host fences itself). nil: never.
    public var controllerSilenceMilliseconds: Int?
    /// Hold rank step reports this long and send them as one `steps` message per attempt. nil: each at once.
    public var reportBatchMilliseconds: Int?

    /// The line an agent (or the start command, when no agent is installed) prints instead of `hello` to ask
    /// the controller to upload its build.
    public static let deployMarker = "RINGMASTER-AGENT-DEPLOY"

    private struct SimulatedSpec: Hashable, Sendable {
        var count: Int
        var kind: String
    }

    public init(
        mode: Mode = .stdio, node: String? = nil, heartbeatMilliseconds: Int = 1000,
        simulateAccelerators: (count: Int, kind: String)? = nil, discoveryCommand: String? = nil,
        stateDirectory: String? = nil, shutdownGraceMilliseconds: Int = 2000
    ) {
        self.mode = mode
        self.node = node
        self.heartbeatMilliseconds = heartbeatMilliseconds
        self.simulated = simulateAccelerators.map { SimulatedSpec(count: $0.count, kind: $0.kind) }
        self.discoveryCommand = discoveryCommand
        self.stateDirectory = stateDirectory
        self.shutdownGraceMilliseconds = shutdownGraceMilliseconds
    }

    public enum ParseError: Error, Hashable, CustomStringConvertible {
        case unknownOption(String)
        case missingValue(String)
        case badValue(String, String)
        case noMode

        public var description: String {
            switch self {
            case .unknownOption(let o): "unknown option \(o)"
            case .missingValue(let o): "\(o) needs a value"
            case .badValue(let o, let v): "bad value '\(v)' for \(o)"
            case .noMode: "usage: ringmaster-agent --stdio [--node NAME] [--heartbeat-ms N] [--simulate-accelerators N[:KIND]] [--discovery-command CMD] [--state-dir DIR] [--shutdown-grace-ms N] [--controller-silence-ms N] [--report-batch-ms N] | --build-hash"
            }
        }
    }

    /// Arguments after the executable name.
    public var arguments: [String] {
        var a: [String]
        switch mode {
        case .stdio: a = ["--stdio"]
        case .buildHash: a = ["--build-hash"]
        case .execRank(let ppid, let cwd, let argv):
            return ["--exec-rank", String(ppid), cwd ?? ""] + ["--"] + argv
        }
        if let node { a += ["--node", node] }
        if heartbeatMilliseconds != 1000 { a += ["--heartbeat-ms", String(heartbeatMilliseconds)] }
        if let simulated { a += ["--simulate-accelerators", "\(simulated.count):\(simulated.kind)"] }
        if let discoveryCommand { a += ["--discovery-command", discoveryCommand] }
        if let stateDirectory { a += ["--state-dir", stateDirectory] }
        if shutdownGraceMilliseconds != 2000 { a += ["--shutdown-grace-ms", String(shutdownGraceMilliseconds)] }
        if let expectedBuildHash { a += ["--expect-hash", expectedBuildHash] }
        if justUploaded { a += ["--just-uploaded"] }
        if let controllerSilenceMilliseconds { a += ["--controller-silence-ms", String(controllerSilenceMilliseconds)] }
        if let reportBatchMilliseconds { a += ["--report-batch-ms", String(reportBatchMilliseconds)] }
        return a
    }

    public static func parse(_ args: [String]) throws(ParseError) -> AgentOptions {
        var o = AgentOptions()
        var mode: Mode?
        var i = 0
        func value(_ name: String) throws(ParseError) -> String {
            i += 1
            guard i < args.count else { throw .missingValue(name) }
            return args[i]
        }
        func int(_ name: String) throws(ParseError) -> Int {
            let v = try value(name)
            guard let n = Int(v), n > 0 else { throw .badValue(name, v) }
            return n
        }
        while i < args.count {
            let arg = args[i]
            switch arg {
            case "--stdio": mode = .stdio
            case "--build-hash": mode = .buildHash
            case "--exec-rank":
                guard i + 3 < args.count, let ppid = Int32(args[i + 1]), args[i + 3] == "--", i + 4 < args.count
                else { throw .badValue(arg, args.dropFirst(i + 1).joined(separator: " ")) }
                let cwd = args[i + 2]
                return AgentOptions(mode: .execRank(parentPID: ppid, cwd: cwd.isEmpty ? nil : cwd, argv: Array(args[(i + 4)...])))
            case "--node": o.node = try value(arg)
            case "--heartbeat-ms": o.heartbeatMilliseconds = try int(arg)
            case "--shutdown-grace-ms": o.shutdownGraceMilliseconds = try int(arg)
            case "--discovery-command": o.discoveryCommand = try value(arg)
            case "--state-dir": o.stateDirectory = try value(arg)
            case "--expect-hash": o.expectedBuildHash = try value(arg)
            case "--just-uploaded": o.justUploaded = true
            case "--controller-silence-ms": o.controllerSilenceMilliseconds = try int(arg)
            case "--report-batch-ms": o.reportBatchMilliseconds = try int(arg)
            case "--simulate-accelerators":
                let v = try value(arg)
                let parts = v.split(separator: ":", maxSplits: 1)
                guard let n = Int(parts[0]), n >= 0 else { throw .badValue(arg, v) }
                let kind = parts.count > 1 ? String(parts[1]) : "simulated"
                guard !kind.isEmpty else { throw .badValue(arg, v) }
                o.simulated = SimulatedSpec(count: n, kind: kind)
            default: throw .unknownOption(arg)
            }
            i += 1
        }
        guard let mode else { throw .noMode }
        o.mode = mode
        return o
    }
}

/// POSIX shell quoting for commands sent over SSH.
public func shellQuote(_ s: String) -> String {
    if !s.isEmpty, s.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0)) }) {
        return s
    }
    return "'" + s.replacing("'", with: "'\\''") + "'"
}
