/// The largest counts a manifest may give where a count becomes an allocation or a product: past them a
/// value is a typo, and taken as written it exhausted memory or overflowed.
public enum ManifestLimits {
    /// Ranks of one job, data × pipeline × tensor: a million, more than the largest clusters built.
    public static let worldSize = 1 << 20
    /// Agents of a `local:` inventory, and spares among them: child processes of one machine.
    public static let localNodes = 1024
    /// Nodes of a `simulated:` inventory, spares included: simulated agents in the controller's process.
    public static let simulatedNodes = 16_384
    /// Nodes of a `slurm:` inventory, and spares among them: more than the largest Slurm clusters have.
    public static let slurmNodes = 1 << 16
    /// Accelerators of one node, and CPU-only ranks one node takes (`ranksPerNode`).
    public static let perNode = 1024
}
