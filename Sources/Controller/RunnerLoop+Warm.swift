import AgentProtocol
import NodeManager
import RingmasterModel
import Supervision

/// A job's warm interpreters (`warm:`): the kind its launches name, and the pools each attempt sizes on its
/// nodes and its warm spares; they are dropped where the job no longer runs, and everywhere when it ends.
extension RunnerLoop {
    /// The interpreter kind of the job's launches, or nil when it has no `warm:` (or its command does not split).
    func warmSpec(of spec: JobSpec) -> WarmSpec? {
        guard let warm = spec.warm, let command = PythonCommand(spec.command) else { return nil }
        return WarmSpec(python: command.python, options: command.options, preload: warm.preload,
                        env: baseEnvironment().merging(spec.env) { $1 }, cwd: spec.workdir)
    }

    /// Sizes the pools for an attempt: on each of its nodes as many as the node runs ranks (or `warm.size`), on
    /// each warm spare as many as the busiest node runs; nodes that kept a pool for an earlier attempt and are
    /// in neither list drop it.
    func sizeWarmPools(_ order: WarmPoolOrder, spec: JobSpec, kind: WarmSpec) {
        var sizes: [NodeID: Int] = [:]
        for a in order.placement.ranks { sizes[a.node, default: 0] += 1 }
        let busiest = sizes.values.max() ?? 1
        if let fixed = spec.warm?.size { for node in sizes.keys { sizes[node] = fixed } }
        for node in order.spares { sizes[node] = spec.warm?.size ?? busiest }
        let previous = warmPools[order.job]
        for node in previous?.nodes.subtracting(sizes.keys) ?? [] {
            _ = runner.nodes.send(.warmPool(WarmPoolRequest(spec: previous!.kind, size: 0)), to: node)
        }
        if let previous, previous.kind != kind {
            for node in previous.nodes.intersection(sizes.keys) {
                _ = runner.nodes.send(.warmPool(WarmPoolRequest(spec: previous.kind, size: 0)), to: node)
            }
        }
        let delay = spec.warm.map { Int(($0.refillAfter.seconds * 1000).rounded()) }
        for (node, size) in sizes.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            _ = runner.nodes.send(.warmPool(WarmPoolRequest(spec: kind, size: size, refillDelayMilliseconds: delay)), to: node)
        }
        warmPools[order.job] = (kind, Set(sizes.keys))
    }

    /// A running attempt's warm spares changed (a node became ready).
    func resizeWarmPools(_ order: WarmPoolOrder) {
        guard let spec = (try? store.job(order.job))??.spec, let kind = warmSpec(of: spec) else { return }
        sizeWarmPools(order, spec: spec, kind: kind)
    }

    /// The job ended: its interpreters go everywhere they were kept.
    func dropWarmPools(of job: JobID) {
        guard let pools = warmPools.removeValue(forKey: job) else { return }
        for node in pools.nodes.sorted(by: { $0.rawValue < $1.rawValue }) {
            _ = runner.nodes.send(.warmPool(WarmPoolRequest(spec: pools.kind, size: 0)), to: node)
        }
    }
}
