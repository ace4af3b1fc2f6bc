#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One kind of pre-started Python interpreter an agent keeps: started as `python OPTIONS -c BOOTSTRAP PRELOAD…`
/// with `env` in `cwd`, it imports the preload modules, then waits on its stdin for one launch. Two launches
/// share an interpreter kind when their specs are equal.
public struct WarmSpec: Hashable, Codable, Sendable {
    public var python: String
    /// Interpreter options, given when it starts (`-u`, `-X dev`).
    public var options: [String]
    public var preload: [String]
    /// The environment it imports in: the job's, without any rank's or attempt's variables (the launch
    /// replaces it with the rank's whole environment).
    public var env: [String: String]
    public var cwd: String?

    public init(python: String, options: [String] = [], preload: [String], env: [String: String] = [:], cwd: String? = nil) {
        self.python = python
        self.options = options
        self.preload = preload
        self.env = env
        self.cwd = cwd
    }
}

/// Keep `size` interpreters of `spec` ready on this node (0 drops them): a node that may take a job's ranks
/// holds them before any launch comes.
public struct WarmPoolRequest: Hashable, Codable, Sendable {
    public var spec: WarmSpec
    public var size: Int
    /// The pool fills this long after it is asked for or last used (nil: the agent's default, 5 s), so that
    /// the interpreters' imports do not take the cores from ranks that just started.
    public var refillDelayMilliseconds: Int?

    public init(spec: WarmSpec, size: Int, refillDelayMilliseconds: Int? = nil) {
        self.spec = spec
        self.size = size
        self.refillDelayMilliseconds = refillDelayMilliseconds
    }
}

/// What the agent writes, as one JSON line, on the stdin of the interpreter a launch goes into.
public struct WarmLaunch: Hashable, Codable, Sendable {
    /// `[SCRIPT, ARGS…]` or `["-m", MODULE, ARGS…]`: the launch's argv after the interpreter and its options.
    public var program: [String]
    public var env: [String: String]
    public var cwd: String?

    public init(program: [String], env: [String: String], cwd: String?) {
        self.program = program
        self.env = env
        self.cwd = cwd
    }
}

extension WarmLaunch {
    /// The JSON line the interpreter reads (with its `\n`).
    public var line: [UInt8] {
        var w = JSONLineWriter()
        w.object { w in
            w.field("program", program)
            w.field("env", env)
            if let cwd { w.field("cwd", cwd) }
        }
        return w.bytes + [UInt8(ascii: "\n")]
    }
}
