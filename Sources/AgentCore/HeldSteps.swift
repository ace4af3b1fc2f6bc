import AgentProtocol
import RingmasterModel

/// Step reports waiting for the next `steps` message: each rank's newest step, ranks in the order they first
/// reported, grouped by attempt when taken.
struct HeldSteps: Hashable, Sendable {
    private var order: [RankRef] = []
    private var newest: [RankRef: Int] = [:]

    var isEmpty: Bool { order.isEmpty }

    mutating func hold(_ rank: RankRef, step: Int) {
        if newest.updateValue(step, forKey: rank) == nil { order.append(rank) }
    }

    /// One batch per attempt, in the order of each attempt's first report; empties the hold.
    mutating func take() -> [StepBatch] {
        var batches: [StepBatch] = []
        var index: [Attempt: Int] = [:]
        for rank in order {
            let attempt = Attempt(job: rank.job, number: rank.attempt)
            if index[attempt] == nil {
                index[attempt] = batches.count
                batches.append(StepBatch(job: rank.job, attempt: rank.attempt, ranks: [], steps: []))
            }
            batches[index[attempt]!].ranks.append(rank.rank)
            batches[index[attempt]!].steps.append(newest[rank]!)
        }
        order.removeAll(keepingCapacity: true)
        newest.removeAll(keepingCapacity: true)
        return batches
    }

    private struct Attempt: Hashable {
        var job: JobID
        var number: Int
    }
}
