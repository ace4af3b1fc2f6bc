import RingmasterModel
import SlurmNodes

/// What `squeue --json` and `sinfo --json` say, for the allocation tests: a running job, healthy nodes.
protocol SlurmStatusFixtures {}

extension SlurmStatusFixtures {
    func running(_ id: String, _ nodes: [String]) -> SlurmJobStatus {
        SlurmJobStatus(id: id, state: "RUNNING", reason: "None", nodes: nodes)
    }

    func healthy(_ names: [String]) -> [String: SlurmNodeStatus] {
        Dictionary(uniqueKeysWithValues: names.map { ($0, SlurmNodeStatus(name: $0, address: "10.0.0.\($0.dropFirst())", state: "allocated")) })
    }
}
