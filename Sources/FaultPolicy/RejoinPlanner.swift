/// What a surviving rank answered after abandoning its step: the step whose state it holds in memory, and a
/// digest of that state (its parameters).
public struct HeldState: Hashable, Sendable {
    public var step: Int
    public var digest: String

    public init(step: Int, digest: String) {
        self.step = step
        self.digest = digest
    }
}

/// Where an in-process rejoin resumes: a step the survivors hold, or a cold restart, with the reason.
public enum RejoinVerdict: Hashable, Sendable {
    case rejoin(step: Int, reason: String)
    case cold(reason: String)
}

/// The step an in-process rejoin resumes from, pure. A step is usable when, for every pipeline-and-tensor
/// coordinate of the job, a survivor of that coordinate holds it (its data-parallel peers and replacements
/// take the state from that survivor's memory), and the survivors that hold it with the same coordinate
/// hold the same state (equal digests: the data-parallel replicas agree). The newest usable step wins;
/// replicas that disagree, or no usable step, mean a cold restart from the newest committed checkpoint.
public enum RejoinPlanner {
    /// - Parameters:
    ///   - held: each survivor's answer, by world rank.
    ///   - coordinate: each world rank's pipeline-and-tensor coordinate (any value that is equal for the
    ///     data-parallel replicas of one model shard), for every rank of the attempt.
    ///   - newestCheckpoint: the newest committed step; a rejoin never resumes behind it.
    public static func decide(held: [Int: HeldState], coordinate: [Int: Int], newestCheckpoint: Int?) -> RejoinVerdict {
        guard !held.isEmpty else { return .cold(reason: "no rank survived to rejoin") }
        let shards = Set(coordinate.values)
        for step in Set(held.values.map(\.step)).sorted(by: >) {
            if let newest = newestCheckpoint, step < newest {
                return .cold(reason: "the survivors' newest usable step \(step) is behind the committed checkpoint \(newest)")
            }
            var usable = true
            for shard in shards.sorted() {
                let holders = held.filter { coordinate[$0.key] == shard && $0.value.step == step }
                guard !holders.isEmpty else {
                    usable = false
                    break
                }
                if Set(holders.values.map(\.digest)).count > 1 {
                    let ranks = holders.keys.sorted().map { "rank \($0) \(holders[$0]!.digest)" }.joined(separator: ", ")
                    return .cold(reason: "the data-parallel replicas disagree at step \(step) (\(ranks)); "
                        + "their memory cannot be trusted")
                }
            }
            guard usable else { continue }
            let behind = held.filter { $0.value.step != step }.keys.sorted()
            let agreeing = held.filter { $0.value.step == step }.count
            var reason = "\(agreeing) of \(held.count) survivors hold step \(step)"
                + (agreeing > shards.count ? " and their data-parallel replicas agree" : "")
            if !behind.isEmpty {
                reason += behind.count == 1 ? "; rank \(behind[0]) takes it from a peer"
                    : "; ranks \(behind.map(String.init).joined(separator: ", ")) take it from a peer"
            }
            return .rejoin(step: step, reason: reason)
        }
        return .cold(reason: "no step is held by a survivor of every pipeline and tensor coordinate")
    }
}
