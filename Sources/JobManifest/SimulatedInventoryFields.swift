import Foundation
import RingmasterModel

/// `simulated: {nodes: 512, accelerators: 8, kind: nvidia, spares: 2, stepTime: 1s, checkpointEvery: 60,
/// jitter: 5%, startup: 2s, steps: 10000, seed: 7}`: simulated agents in the controller's process.
extension InventoryFields {
    static let simulatedKeys = ["nodes", "accelerators", "kind", "spares", "stepTime", "checkpointEvery", "jitter", "startup",
                                "steps", "seed"]

    func readSimulated(_ field: YAMLField) -> (nodes: [NodeEntry], settings: SimulationSettings)? {
        guard let map = field.map(allowed: Self.simulatedKeys) else { return nil }
        let limit = ManifestLimits.simulatedNodes
        let count = map.required("nodes", hint: "the number of simulated nodes, e.g. `nodes: 512`")?
            .int(min: 1, max: limit, hint: "at most \(limit) simulated nodes in one controller")
        let accelerators = map.field("accelerators").map { $0.int(min: 0, max: ManifestLimits.perNode) } ?? 8
        let kind = map.field("kind")?.string().map { AcceleratorKind(rawValue: $0) } ?? .simulated
        let spares = map.field("spares").map { $0.int(min: 0, max: limit) } ?? 0
        let defaults = SimulationSettings()
        let stepTime = map.field("stepTime").map { $0.duration() } ?? defaults.stepTime
        let every = map.field("checkpointEvery").map { $0.int(min: 1, hint: "steps between checkpoint reports, e.g. 60") }
        let jitter = map.field("jitter").map(readFraction) ?? defaults.jitter
        let startup = map.field("startup").map { $0.duration(allowZero: true) } ?? defaults.startup
        let steps = map.field("steps").map { $0.int(min: 1, hint: "steps each rank runs before it exits 0; leave it out to run until stopped") }
        let seed = map.field("seed").map { $0.int(min: 0) } ?? Int(defaults.seed)
        guard let count, let accelerators, let spares, let stepTime, every != .some(nil), let jitter, let startup,
              steps != .some(nil), let seed else { return nil }
        if count + spares > limit {
            reader.error(at: field.line, "\(field.path).spares", "\(count) nodes and \(spares) spares are more than \(limit)",
                         hint: "at most \(limit) simulated nodes in one controller")
            return nil
        }
        let nodes = (0..<(count + spares)).map { i in
            let id = NodeID("sim-\(i)")
            return NodeEntry(id: id, host: id.rawValue, spare: i >= count,
                             accelerators: Accelerator.simulated(count: accelerators, kind: kind, node: id.rawValue), line: field.line)
        }
        let settings = SimulationSettings(stepTime: stepTime, checkpointEvery: every ?? nil, jitter: jitter, startup: startup,
                                          steps: steps ?? nil, seed: UInt64(seed))
        return (nodes, settings)
    }

    /// `5%` or `0.05`: at least 0, below 1.
    private func readFraction(_ field: YAMLField) -> Double? {
        guard let text = field.scalarText(expected: "a fraction")?.trimmingCharacters(in: .whitespaces) else { return nil }
        let percent = text.hasSuffix("%")
        guard let number = Double(percent ? String(text.dropLast()) : text), number.isFinite else {
            reader.error(at: field.line, field.path, "expected a fraction, got `\(text)`", hint: "write e.g. 5% or 0.05")
            return nil
        }
        let value = percent ? number / 100 : number
        guard value >= 0, value < 1 else {
            reader.error(at: field.line, field.path, "must be at least 0 and below 1 (100%), got `\(text)`",
                         hint: "a step interval is the step time × (1 ± jitter), e.g. 5%")
            return nil
        }
        return value
    }
}
