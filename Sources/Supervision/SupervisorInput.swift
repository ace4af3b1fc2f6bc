import FaultPolicy
import Foundation
import RingmasterModel

/// A job as the supervisor knows it: identity, manifest and how far it got.
public struct JobSnapshot: Hashable, Sendable {
    public var id: JobID
    public var spec: JobSpec
    public var state: JobState
    public var reason: String?
    /// Restarts spent so far (every attempt after the first counts).
    public var restarts: Int
    /// Attempts launched so far.
    public var attempts: Int
    /// Committed, not corrupt steps of the job, any order.
    public var committed: [Int]
    /// The job has no checkpoint of its own yet and resumes from another job's step (`checkpoint.resumeFrom`).
    public var importFrom: String?

    public init(id: JobID, spec: JobSpec, state: JobState = .pending, reason: String? = nil, restarts: Int = 0,
                attempts: Int = 0, committed: [Int] = [], importFrom: String? = nil) {
        self.id = id
        self.spec = spec
        self.state = state
        self.reason = reason
        self.restarts = restarts
        self.attempts = attempts
        self.committed = committed
        self.importFrom = importFrom
    }
}

/// A node as the supervisor knows it: its inventory entry (with the accelerators its agent reported),
/// its state, and the quarantine reason when it is quarantined.
public struct NodeSnapshot: Hashable, Sendable {
    public var entry: NodeEntry
    public var state: NodeState?
    public var quarantine: String?

    public init(entry: NodeEntry, state: NodeState? = nil, quarantine: String? = nil) {
        self.entry = entry
        self.state = state
        self.quarantine = quarantine
    }
}

/// What the controller read back from the store when it started.
public struct RestoredState: Hashable, Sendable {
    /// Every job, oldest first (final ones only by id and state).
    public var jobs: [JobSnapshot]
    /// The inventory's nodes in inventory order.
    public var nodes: [NodeSnapshot]
    /// Attempts the previous controller left open, per job (their numbers).
    public var openAttempts: [JobID: [Int]]

    public init(jobs: [JobSnapshot], nodes: [NodeSnapshot], openAttempts: [JobID: [Int]] = [:]) {
        self.jobs = jobs
        self.nodes = nodes
        self.openAttempts = openAttempts
    }
}

/// The outcome of preparing a launch (reading the candidates' COMMITTED markers, importing a
/// `resumeFrom` step): per candidate step, nil when it is usable or why not.
public struct LaunchCheck: Hashable, Sendable {
    /// Candidate steps the shell found unusable, with why; `foreign` when the marker names another job.
    public var problems: [Int: String]
    public var foreign: Set<Int>
    /// The step imported from `resumeFrom`, if one was.
    public var imported: Int?
    /// The import failed: the job cannot start.
    public var importError: String?

    public init(problems: [Int: String] = [:], foreign: Set<Int> = [], imported: Int? = nil, importError: String? = nil) {
        self.problems = problems
        self.foreign = foreign
        self.imported = imported
        self.importError = importError
    }
}

/// The timers the supervisor sets; at most one of each is pending.
public enum TimerID: Hashable, Sendable {
    /// A recovering job's backoff passed: relaunch (or a deferred launch is tried again).
    case relaunch(JobID)
    /// Hang detection for the job's attempt is due.
    case hang(JobID, attempt: Int)
    /// A job waiting for nodes after a failure may shrink now.
    case shrink(JobID)
    /// The survivors of the job's attempt had their time to answer an `abandon`.
    case rejoin(JobID, attempt: Int)
}

/// Everything the supervisor reacts to. Each comes with the time it was seen.
public enum SupervisorInput: Sendable {
    /// The controller started: the store's state.
    case restored(RestoredState)
    case submitted(JobSnapshot)
    /// A node's state changed (accelerators: what its agent reported, when it became ready).
    case node(NodeID, NodeState, cause: String, accelerators: [Accelerator]?)
    /// `ringmaster cancel` (`request` identifies the reply).
    case cancel(JobID, request: Int)
    /// `ringmaster nodes release`.
    case release(NodeID, request: Int)
    /// The shell prepared the launch it was asked for.
    case prepared(JobID, attempt: Int, LaunchCheck)
    /// The shell could not create the attempt (the store, the rendezvous port).
    case launchFailed(JobID, attempt: Int, error: String)
    /// The shell could not create the attempt because the store cannot be written for now (its disk is full,
    /// another process holds its lock): nothing was launched, and the launch can be tried again.
    case launchDeferred(JobID, attempt: Int, error: String)
    /// The attempt's rows and rendezvous exist and every rank's launch was sent; `undelivered` are the
    /// ranks whose node had no open channel.
    case launched(JobID, attempt: Int, rendezvous: String, undelivered: [Int])
    case rankStarted(RankRef)
    /// A rank ended: its exit status or signal, or the agent's spawn error.
    case rankExited(RankRef, node: NodeID, status: Int32?, signal: Int32?, error: String?)
    /// A signal could not be delivered: the rank's node has no channel (its agent took the rank with it).
    case rankUnreachable(RankRef)
    case step(RankRef, step: Int)
    /// A rank finished writing its shard of `step`.
    case checkpointReported(RankRef, step: Int)
    /// A rank could not write its shard of `step` (`checkpoint-failed N REASON`: a full disk, permissions).
    case checkpointFailed(RankRef, step: Int, reason: String)
    /// A rank that abandoned its step holds the state after `step` (`held STEP DIGEST`).
    case held(RankRef, step: Int, digest: String)
    /// The shell wrote the step's COMMITTED marker and store row (nil error) or could not.
    case checkpointCommitted(JobID, step: Int, error: String?)
    case sectionOpened(RankRef, name: String, seconds: Double)
    case sectionEnded(RankRef)
    /// Answer to `inspectRanks`: ranks the kernel shows stopped (local clusters).
    case inspected(JobID, attempt: Int, stopped: [Int])
    /// `ringmaster chaos` injected a failure (for detection latency).
    case injected(JobID, what: String)
    case timer(TimerID)
    /// The node source says these nodes' time is nearly up (a Slurm holder job's warning): attempts on them
    /// checkpoint now and move; nothing new is placed on them.
    case timeLimit([NodeID], cause: String)
    /// The controller stops: attempts stopped, jobs back to pending.
    case shutdown
}
