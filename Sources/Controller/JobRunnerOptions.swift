import ControllerAPI
import Foundation
import RingmasterModel

/// How the runner reaches and launches ranks.
public struct JobRunnerOptions: Sendable {
    public var stateDirectory: StateDirectory
    /// Prepended to the ranks' PATH so they find Ringmaster's own executables (ringmaster-train).
    public var binDirectory: String
    /// SIGTERM → SIGKILL grace when stopping ranks.
    public var gracePeriod: Duration
    /// Whether the inventory's nodes are agents on this machine (loopback addresses, local log paths).
    public var local: Bool
    /// Address ranks reach this controller's rendezvous at (127.0.0.1 for local clusters; for SSH clusters
    /// the local address of the route towards the nodes).
    public var rendezvousHost: String
    /// The address of a node whose inventory entry names no host of its own (a Slurm slot: the node it is
    /// bound to now); nil uses the entry's host.
    public var nodeAddress: (@Sendable (NodeID) -> String?)?
    /// The host name shown for such a node (the Slurm node a slot runs on); nil shows the entry's host.
    public var nodeHost: (@Sendable (NodeID) -> String?)?
    /// Whether agents keep the ranks' raw output under the state directory (local clusters, and Slurm
    /// clusters, whose state directory is on storage every node sees); else under `.ringmaster/logs`.
    public var logsInStateDirectory: Bool
    /// Told when nodes whose time limit is near hold no attempt any more (a Slurm allocation moves them).
    public var vacated: (@Sendable ([NodeID]) -> Void)?
    /// Told when a node is quarantined (true) or leaves quarantine (false): a Slurm allocation excludes its
    /// node from new holder jobs.
    public var quarantined: (@Sendable (NodeID, Bool) -> Void)?

    public init(stateDirectory: StateDirectory, binDirectory: String, gracePeriod: Duration = .seconds(3), local: Bool,
                rendezvousHost: String, nodeAddress: (@Sendable (NodeID) -> String?)? = nil, nodeHost: (@Sendable (NodeID) -> String?)? = nil,
                logsInStateDirectory: Bool? = nil, vacated: (@Sendable ([NodeID]) -> Void)? = nil,
                quarantined: (@Sendable (NodeID, Bool) -> Void)? = nil) {
        self.vacated = vacated
        self.quarantined = quarantined
        self.nodeAddress = nodeAddress
        self.nodeHost = nodeHost
        self.logsInStateDirectory = logsInStateDirectory ?? local
        self.stateDirectory = stateDirectory
        self.binDirectory = binDirectory
        self.gracePeriod = gracePeriod
        self.local = local
        self.rendezvousHost = rendezvousHost
    }
}

/// What the runner tells people as it works (the foreground `run` prints it; the daemon logs it).
public enum RunnerNote: Sendable {
    /// A state change or decision worth a line.
    case text(JobID?, String)
    /// A line a rank printed.
    case rankOutput(JobID, rank: Int, String)
    /// The job's progress rank reported a step (with its loss when it sent one).
    case step(JobID, step: Int, loss: Double?)
    /// A pending job cannot be placed on the free ready nodes (the reason says why).
    case waiting(JobID, String)
    /// A job reached a final state.
    case finished(JobID, JobState, String?)
}
