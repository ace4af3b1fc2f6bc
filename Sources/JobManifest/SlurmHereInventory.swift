import Foundation
import RingmasterModel

extension ClusterInventoryLoader {
    /// `--cluster slurm-here`: the allocation this controller runs inside (`salloc`, `sbatch`), every node
    /// of it a primary, nothing submitted or cancelled.
    public static let slurmHere = "slurm-here"

    /// The inventory of the enclosing Slurm allocation, from `SLURM_JOB_ID` and `SLURM_JOB_NUM_NODES`.
    public static func slurmHere(environment: [String: String]) throws(ManifestErrors) -> LoadedManifest<ClusterInventory> {
        let file = slurmHere
        guard let job = environment["SLURM_JOB_ID"], !job.isEmpty, job.allSatisfy(\.isNumber) else {
            throw ManifestErrors([ManifestError(
                file: file, line: nil, field: "SLURM_JOB_ID", message: "not inside a Slurm allocation (SLURM_JOB_ID is not set)",
                hint: "start the controller inside `salloc -N 4` or an sbatch script, or name an inventory file")])
        }
        let count = environment["SLURM_JOB_NUM_NODES"] ?? environment["SLURM_NNODES"] ?? ""
        guard let nodes = Int(count), nodes >= 1 else {
            throw ManifestErrors([ManifestError(
                file: file, line: nil, field: "SLURM_JOB_NUM_NODES", message: "`\(count)` is not a node count",
                hint: "Slurm sets it inside an allocation; run the controller from the allocation's batch step or salloc shell")])
        }
        return try parse("name: slurm-\(job)\nslurm: {nodes: \(nodes), existingAllocation: true}\n", file: file)
    }
}
