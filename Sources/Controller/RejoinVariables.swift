/// The rank environment of an in-process rejoin (README "PyTorch": warm recovery).
enum RejoinVariables {
    /// Seconds the controller waits for a rank's `held` after an `abandon`: set when the job allows a rejoin
    /// (`warm.rejoin`), so `ringmaster.torch.elastic` knows to catch a lost peer instead of exiting.
    static let deadline = "RINGMASTER_REJOIN_SECONDS"
    /// `peers`: the attempt resumes from the step its survivors hold in memory, not from a checkpoint.
    static let source = "RINGMASTER_RESUME_SOURCE"

    /// The variables a rank that rejoins takes from the new attempt: Ringmaster's and torchrun's own (the
    /// attempt, token, rendezvous, master port, resume step and source, rank coordinates). The agent's socket
    /// and library paths stay the process's; the rest of the environment is the launch's.
    static func changing(_ env: [String: String]) -> [String: String] {
        let kept: Set<String> = ["RINGMASTER_CONTROL", "RINGMASTER_LIBRARY"]
        let torchrun: Set<String> = ["RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "NODE_RANK",
                                     "ROLE_RANK", "ROLE_WORLD_SIZE", "TORCHELASTIC_RESTART_COUNT", "TORCHELASTIC_RUN_ID"]
        return env.filter { key, _ in
            !kept.contains(key) && (key.hasPrefix("RINGMASTER_") || key.hasPrefix("MASTER_") || torchrun.contains(key))
        }
    }
}
