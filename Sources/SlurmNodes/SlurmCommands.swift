import RingmasterModel

/// The Slurm commands the controller runs, as argument vectors (never a shell string; no libslurm).
public enum SlurmCommands {
    /// The holder job's script, fed to `sbatch` on stdin: it keeps the allocation until cancelled, and
    /// writes a line to its output when Slurm sends the time-limit warning (`--signal=B:USR1@SECONDS`),
    /// which the controller reads there.
    public static let holderScript = """
        #!/bin/sh
        # Ringmaster holder job: keeps this allocation while the controller runs its agents in it with
        # `srun --overlap`. Slurm signals this shell (USR1) before the time limit; the controller reads the line.
        trap 'echo "\(timeLimitMarker) $(date +%s)"' USR1
        echo "ringmaster holder job $SLURM_JOB_ID on $SLURM_JOB_NODELIST"
        while :; do sleep 3600 & wait $!; done

        """
    public static let timeLimitMarker = "ringmaster: time-limit signal"

    /// `sbatch` for a holder job of `count` nodes, excluding `exclude`, its output in `outputFile`
    /// (`%j` is the job id). The script goes on stdin.
    public static func submit(_ s: SlurmSettings, count: Int, exclude: [String], jobName: String, outputFile: String) -> [String] {
        var argv = ["sbatch", "--parsable", "--job-name=\(jobName)", "--nodes=\(count)", "--ntasks-per-node=1", "--exclusive",
                    "--no-kill", "--signal=B:USR1@\(s.warningSeconds)", "--output=\(outputFile)"]
        if let p = s.partition { argv.append("--partition=\(p)") }
        if let t = s.time { argv.append("--time=\(t)") }
        if let a = s.account { argv.append("--account=\(a)") }
        if let c = s.constraint { argv.append("--constraint=\(c)") }
        if let g = s.gresPerNode { argv.append("--gres=\(g)") }
        if !exclude.isEmpty { argv.append("--exclude=\(exclude.sorted().joined(separator: ","))") }
        return argv + s.extraArgs
    }

    /// Every job's state (22.05's `squeue --json` lists all jobs whatever the filters; they are picked here).
    public static let queue = ["squeue", "--json"]
    /// Every node's state.
    public static let nodes = ["sinfo", "--json"]
    /// The node names of a host list (`n[1-3],gpu7`).
    public static func hostnames(_ list: String) -> [String] { ["scontrol", "show", "hostnames", list] }

    public static func cancel(_ jobs: [String]) -> [String] { ["scancel", "--quiet"] + jobs }

    /// The agent step on one node of a job: its stdin/stdout are the agent channel.
    public static func agentStep(job: String, host: String, gres: String?, agent: [String]) -> [String] {
        var argv = ["srun", "--jobid=\(job)", "--overlap", "-w", host, "-N1", "-n1", "--quiet", "--job-name=ringmaster-agent"]
        if let gres { argv.append("--gres=\(gres)") }
        return argv + agent
    }
}
