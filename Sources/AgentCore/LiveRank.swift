import RingmasterModel
import AgentProtocol

/// A rank the agent started and has not yet reaped.
public struct LiveRank: Sendable {
    public let ref: RankRef
    /// The rank's pid, which is also its process group id.
    public let pid: Int32
    public var output: RankOutput

    public init(ref: RankRef, pid: Int32, output: RankOutput) {
        self.ref = ref
        self.pid = pid
        self.output = output
    }
}
