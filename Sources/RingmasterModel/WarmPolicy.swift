/// A job's warm interpreters (`warm:` in its manifest): every node that runs or may take its ranks keeps `size`
/// Python interpreters started ahead with `preload` imported, and a launch runs the rank's script in one of them
/// instead of starting a process (the command stays the cold fallback).
public struct WarmPolicy: Hashable, Codable, Sendable {
    /// The interpreter: the command's `argv[0]`.
    public var python: String
    /// Modules imported before an interpreter waits for its launch (`torch`, `ringmaster.torch`).
    public var preload: [String]
    /// Interpreters kept per node; nil = as many as the node runs ranks of the job.
    public var size: Int?
    /// Idle nodes (not in the attempt's placement) that also keep a pool, to take a lost node's ranks warm.
    public var spares: Int
    /// A pool fills this long after it was asked for or last used: the interpreters' imports would otherwise
    /// take the cores from ranks that just started.
    public var refillAfter: Duration
    /// In-process rejoin (`warm.rejoin`): when a rank fails, the attempt's survivors abandon their step and
    /// join the next attempt without exiting, if each answers within this long (the script uses
    /// `ringmaster.torch.elastic`); nil: survivors are stopped and started again, as without `warm:`.
    public var rejoin: Duration?

    public init(python: String, preload: [String], size: Int? = nil, spares: Int = 1, refillAfter: Duration = .seconds(5),
                rejoin: Duration? = nil) {
        self.rejoin = rejoin
        self.python = python
        self.preload = preload
        self.size = size
        self.spares = spares
        self.refillAfter = refillAfter
    }
}

/// How a Python command splits for a warm launch: `python [OPTIONS] SCRIPT ARGS…` or `python [OPTIONS] -m
/// MODULE ARGS…`. The options start the interpreter; what follows them is handed to it at launch.
public struct PythonCommand: Hashable, Sendable {
    public var python: String
    /// Interpreter options before the script or `-m` (`-u`, `-X dev`, `-W error`).
    public var options: [String]
    /// `[SCRIPT, ARGS…]` or `["-m", MODULE, ARGS…]`.
    public var program: [String]

    /// Single-letter options that take no argument, and those that take one (the next word).
    static let flags: Set<String> = ["-u", "-O", "-OO", "-B", "-s", "-E", "-I", "-b", "-bb", "-d", "-q", "-v", "-P", "-R"]
    static let withArgument: Set<String> = ["-X", "-W"]

    /// nil when `argv` is not an interpreter running a script or a module (`-c CODE`, a bare `python`, an
    /// option this split does not know).
    public init?(_ argv: [String]) {
        guard argv.count >= 2 else { return nil }
        var i = 1
        var options: [String] = []
        while i < argv.count {
            let word = argv[i]
            if Self.flags.contains(word) {
                options.append(word)
                i += 1
            } else if Self.withArgument.contains(word), i + 1 < argv.count {
                options += [word, argv[i + 1]]
                i += 2
            } else {
                break
            }
        }
        guard i < argv.count else { return nil }
        let first = argv[i]
        if first == "-m" {
            guard i + 1 < argv.count, !argv[i + 1].isEmpty, !argv[i + 1].hasPrefix("-") else { return nil }
        } else if first.hasPrefix("-") || first.isEmpty {
            return nil
        }
        python = argv[0]
        self.options = options
        program = Array(argv[i...])
    }
}
