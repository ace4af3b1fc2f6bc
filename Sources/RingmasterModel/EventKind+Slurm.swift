extension EventKind {
    /// The Slurm node source's own steps: a holder job submitted, pending (with Slurm's reason), running
    /// (which slot is which node), a node lost and its replacement, the time-limit warning, cancelled.
    public static let slurmAllocation = EventKind(rawValue: "slurm.allocation")
}
