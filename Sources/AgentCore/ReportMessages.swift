import RingmasterModel
import AgentProtocol

extension RankReport {
    /// The message this report becomes, and whether it may be dropped when the controller is far behind
    /// (progress may: the next step report supersedes it; checkpoints and sections may not).
    func message(of rank: RankRef) -> (message: AgentMessage, droppable: Bool) {
        switch self {
        case .step(let n): (.progress(RankProgress(rank: rank, step: n)), true)
        case .metric(let name, let value): (.progress(RankProgress(rank: rank, metric: name, value: value)), true)
        case .checkpoint(let n): (.checkpoint(CheckpointReport(rank: rank, step: n)), false)
        case .checkpointFailed(let n, let reason): (.checkpoint(CheckpointReport(rank: rank, step: n, failure: reason)), false)
        case .section(let name, let seconds): (.section(SectionReport(rank: rank, name: name, seconds: seconds)), false)
        case .sectionEnd: (.section(SectionReport(rank: rank, name: nil, seconds: nil)), false)
        case .held(let n, let digest): (.held(RankHeld(rank: rank, step: n, digest: digest)), false)
        }
    }
}
