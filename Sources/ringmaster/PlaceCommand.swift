import ArgumentParser
import JobManifest
import Planning
import RingmasterModel

struct Place: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show where each rank of a job would run on a cluster.",
        discussion: "Ranks are ordered tensor fastest, then data, then pipeline; a tensor group never spans nodes.")

    @Argument(help: "Job manifest (YAML).")
    var job: String

    @Option(name: .long, help: "Cluster inventory (YAML).")
    var cluster: String

    @Flag(help: "Print a JSON array of {rank, node, localRank, devices, tp, pp, dp, …}.")
    var json = false

    func run() throws {
        let (spec, inventory) = try Manifests.jobAndCluster(job, cluster)
        let slots = inventory.value.nodes.map { NodeSlots(node: $0, resources: spec.value.resources) }
        let placement: Placement
        do {
            placement = try Placer(job: spec.value).place(on: slots)
        } catch {
            throw Manifests.fail([spec.error(field: error.field, message: error.message + " in \(inventory.file)",
                                             hint: error.hint)])
        }
        if json {
            try Output.json(placement.ranks.map { PlacedRank($0, in: placement) })
            return
        }
        let p = spec.value.parallelism
        print("\(spec.value.name) on \(inventory.value.name): \(p.worldSize) ranks (data \(p.data) × pipeline "
            + "\(p.pipeline) × tensor \(p.tensor)) on \(placement.nodes.count) of \(inventory.value.nodes.count) nodes")
        let rows = placement.ranks.map { r in
            [String(r.rank), r.node.rawValue, String(r.localRank),
             r.devices.isEmpty ? "-" : r.devices.map(String.init).joined(separator: ","),
             String(r.tp), String(r.pp), String(r.dp)]
        }
        print(Output.table(["RANK", "NODE", "LOCAL", "DEVICES", "TP", "PP", "DP"], rows))
        let spares = inventory.value.spareNodes.map(\.id.rawValue)
        if !spares.isEmpty { print("spares held back: \(spares.joined(separator: ", "))") }
    }
}

/// The `place --json` row.
struct PlacedRank: Encodable {
    var rank: Int
    var node: String
    var localRank: Int
    var devices: [Int]
    var tp: Int
    var pp: Int
    var dp: Int
    var tensorGroup: [Int]
    var dataGroup: [Int]
    var pipelineGroup: [Int]

    init(_ r: RankAssignment, in placement: Placement) {
        rank = r.rank
        node = r.node.rawValue
        localRank = r.localRank
        devices = r.devices
        tp = r.tp
        pp = r.pp
        dp = r.dp
        tensorGroup = placement.tensorGroup(of: r.rank)
        dataGroup = placement.dataGroup(of: r.rank)
        pipelineGroup = placement.pipelineGroup(of: r.rank)
    }
}
