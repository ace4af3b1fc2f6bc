import RingmasterModel
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// One rank of a simulated node: no process, only its reports on the time line. It reports `step N` every
/// step time (± jitter), `checkpoint N` every K steps, exits with its exit code after its last step, and
/// takes signals as a process without handlers would: SIGSTOP pauses it (no reports: a hang), SIGCONT resumes
/// it, SIGKILL ends it at once, and SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1/2 and SIGALRM end it by that
/// signal (pending while it is stopped, as the kernel holds them). Pure: the time is an input.
public struct VirtualRank: Hashable, Sendable {
    public internal(set) var ref: RankRef
    public let pid: Int32
    public let program: VirtualRankProgram
    /// The newest step reported.
    public private(set) var step: Int
    /// When the next step is due; nil while stopped or once it ended.
    public private(set) var nextStepAt: Duration?
    public private(set) var stopped = false
    public private(set) var termination: POSIX.Termination?
    /// A terminating signal that arrived while stopped: it ends the rank at SIGCONT.
    private var pendingSignal: Int32?
    /// The step a `checkpoint-now` asked for (a rank saves it as a periodic one, if it has not passed it).
    private var requestedCheckpoint: Int?
    private var rng: SplitMix64

    public init(ref: RankRef, pid: Int32, program: VirtualRankProgram, seed: UInt64, now: Duration) {
        self.ref = ref
        self.pid = pid
        self.program = program
        step = program.resumeStep
        var mix = SplitMix64(seed: seed ^ UInt64(truncatingIfNeeded: ref.rank) &* 0x9E37_79B9_7F4A_7C15
            ^ UInt64(truncatingIfNeeded: ref.attempt) << 48 ^ VirtualRank.hash(ref.job.rawValue))
        _ = mix.next()
        rng = mix
        // A rank resumed at or past its last step ends at its first report time, without a step.
        let finished = program.steps.map { program.resumeStep >= $0 } ?? false
        nextStepAt = now + program.startup
        if !finished { nextStepAt = now + program.startup + interval() }
    }

    /// FNV-1a of the job id: the same job gets the same jitter on every run.
    static func hash(_ text: String) -> UInt64 {
        text.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }

    private mutating func interval() -> Duration {
        guard program.jitter > 0 else { return program.stepTime }
        return program.stepTime * (1 + program.jitter * (2 * rng.unit() - 1))
    }

    public var ended: Bool { termination != nil }

    /// A line the agent relayed from the controller: `checkpoint-now STEP` makes the rank checkpoint that step
    /// (when it checkpoints at all and has not passed it); anything else is ignored, as a real rank would.
    public mutating func relayed(_ line: String) {
        let words = line.split(separator: " ")
        guard words.count == 2, words[0] == "checkpoint-now", let asked = Int(words[1]), asked > step else { return }
        requestedCheckpoint = max(requestedCheckpoint ?? asked, asked)
    }

    /// What the rank reports between its last advance and `now`: each due step (and checkpoint) as one datagram
    /// line, in order; the rank ends after its last step.
    public mutating func advance(to now: Duration) -> [String] {
        var lines: [String] = []
        while !stopped, termination == nil, let due = nextStepAt, due <= now {
            if let steps = program.steps, step >= steps {
                nextStepAt = nil
                termination = .exited(program.exitCode)
                break
            }
            step += 1
            lines.append("step \(step)")
            let requested = requestedCheckpoint == step
            if requested { requestedCheckpoint = nil }
            if let every = program.checkpointEvery, step % every == 0 || requested { lines.append("checkpoint \(step)") }
            if let steps = program.steps, step >= steps {
                nextStepAt = nil
                termination = .exited(program.exitCode)
            } else {
                nextStepAt = due + interval()
            }
        }
        return lines
    }

    /// A signal to the rank's process group. Returns true when it ended the rank.
    public mutating func signal(_ signal: Int32, now: Duration) -> Bool {
        guard termination == nil else { return false }
        switch signal {
        case SIGKILL:
            end(.signaled(SIGKILL))
        case SIGSTOP, SIGTSTP:
            guard !stopped else { return false }
            stopped = true
            nextStepAt = nil
        case SIGCONT:
            guard stopped else { return false }
            stopped = false
            if let pending = pendingSignal {
                end(.signaled(pending))
            } else {
                nextStepAt = now + interval()
            }
        case SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM:
            if stopped {
                pendingSignal = pendingSignal ?? signal
                return false
            }
            end(.signaled(signal))
        default:
            return false
        }
        return termination != nil
    }

    private mutating func end(_ how: POSIX.Termination) {
        termination = how
        nextStepAt = nil
        stopped = false
    }
}
