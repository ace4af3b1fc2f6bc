import Foundation
import Synchronization
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// A real Slurm cluster in a temporary directory, on loopback: munged with a key of its own, slurmctld, and
/// `nodes` slurmd (`n1`…`nN`, each `slurmd -N nX` on its own port), `proctrack/linuxproc`, `task/none`,
/// `select/cons_tres`, a short `SlurmdTimeout`. Every Slurm command of a test names it through
/// `SLURM_CONF` (`environment`, `launcher`). `stop()` cancels every job, stops every daemon it started and
/// kills what the cluster left running (job steps outlive slurmd under linuxproc).
public final class SlurmCluster: Sendable {
    public let directory: String
    public let nodeNames: [String]
    public let partition = "debug"
    /// slurm.conf of this cluster.
    public var configFile: String { "\(directory)/slurm.conf" }
    /// What a Slurm client of this cluster needs in its environment.
    public var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["SLURM_CONF"] = configFile
        env[Self.marker] = directory
        return env
    }
    /// Prefix for a command that must talk to this cluster (`env SLURM_CONF=… ringmaster controller …`).
    public var launcher: [String] { ["env", "SLURM_CONF=\(configFile)", "\(Self.marker)=\(directory)"] }

    /// In the environment of every process this cluster starts (daemons, and through the submitting
    /// client every job): how `stop()` finds what is left.
    static let marker = "RINGMASTER_SLURM_FIXTURE"
    static let daemons = ["/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd"]
    static let clients = ["sbatch", "srun", "squeue", "scontrol", "scancel", "sinfo"]

    private let munged: Mutex<ChildProcess?> = Mutex(nil)
    private let slurmctld: Mutex<ChildProcess?> = Mutex(nil)
    private let slurmds: Mutex<[String: ChildProcess]> = Mutex([:])
    private let ports: [String: Int]
    private let temporary: TemporaryDirectory
    private let controllerPort: Int

    /// Whether this machine has the Slurm and munge packages (`make test` installs them).
    public static var isInstalled: Bool {
        daemons.allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
            && clients.allSatisfy { FileManager.default.isExecutableFile(atPath: "/usr/bin/\($0)") }
    }

    /// Root with Slurm installed, or CI (where a missing part must fail the test).
    public static var canRun: Bool { (TestEnvironment.isRoot && isInstalled) || TestEnvironment.isCI }
    public static let skipMessage =
        "needs root and Slurm (munge slurmctld slurmd slurm-client; `make deps` installs them): skipped (CI=true makes this a failure)"

    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    /// Writes the configuration, starts munged, slurmctld and the slurmd, and returns once `sinfo` shows
    /// every node idle.
    public static func start(nodes: Int = 4, slurmdTimeout: Int = 6, within limit: Duration = .seconds(120)) async throws -> SlurmCluster {
        guard TestEnvironment.isRoot else { throw Unavailable(description: "the Slurm fixture needs root (slurmd runs jobs as any user)") }
        guard isInstalled else { throw Unavailable(description: "Slurm is not installed: apt-get install munge slurmctld slurmd slurm-client") }
        let dir = try TemporaryDirectory(prefix: "rm-slurm")
        let names = (1...nodes).map { "n\($0)" }
        var used = Set<Int>()
        func port() -> Int {
            while true {
                let p = POSIX.freeLoopbackPort()
                if used.insert(p).inserted { return p }
            }
        }
        let controllerPort = port()
        let ports = Dictionary(uniqueKeysWithValues: names.map { ($0, port()) })
        let cluster = SlurmCluster(temporary: dir, nodeNames: names, ports: ports, controllerPort: controllerPort)
        do {
            try cluster.writeConfiguration(slurmdTimeout: slurmdTimeout)
            try await cluster.startDaemons(within: limit)
        } catch {
            await cluster.stop()
            throw error
        }
        return cluster
    }

    private init(temporary: TemporaryDirectory, nodeNames: [String], ports: [String: Int], controllerPort: Int) {
        self.temporary = temporary
        directory = temporary.path
        self.nodeNames = nodeNames
        self.ports = ports
        self.controllerPort = controllerPort
    }

    // MARK: Configuration

    var mungeSocket: String { "\(directory)/munge/munge.socket" }

    func writeConfiguration(slurmdTimeout: Int) throws {
        for sub in ["munge", "state", "spool", "log"] {
            try FileManager.default.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true)
        }
        chmod("\(directory)/munge", 0o700)
        // munged refuses a key that others may read.
        var key = [UInt8](repeating: 0, count: 1024)
        for i in key.indices { key[i] = UInt8.random(in: 0...255) }
        let keyFile = "\(directory)/munge/munge.key"
        FileManager.default.createFile(atPath: keyFile, contents: Data(key), attributes: [.posixPermissions: 0o400])
        let host = Self.shortHostName()
        let nodeLines = nodeNames.map { "NodeName=\($0) NodeHostname=\(host) NodeAddr=127.0.0.1 Port=\(ports[$0]!) CPUs=1 State=UNKNOWN" }
        let conf = """
            ClusterName=ringmaster-test
            SlurmctldHost=\(host)(127.0.0.1)
            SlurmctldPort=\(controllerPort)
            AuthType=auth/munge
            AuthInfo=socket=\(mungeSocket)
            CredType=cred/munge
            SlurmUser=root
            SlurmdUser=root
            StateSaveLocation=\(directory)/state
            SlurmdSpoolDir=\(directory)/spool/%n
            SlurmctldPidFile=\(directory)/slurmctld.pid
            SlurmdPidFile=\(directory)/slurmd-%n.pid
            SlurmctldLogFile=\(directory)/log/slurmctld.log
            SlurmdLogFile=\(directory)/log/slurmd-%n.log
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_CPU
            SchedulerType=sched/backfill
            MpiDefault=none
            JobAcctGatherType=jobacct_gather/none
            AccountingStorageType=accounting_storage/none
            JobCompType=jobcomp/none
            SlurmdParameters=config_overrides
            ReturnToService=2
            SlurmdTimeout=\(slurmdTimeout)
            SlurmctldTimeout=30
            InactiveLimit=0
            KillWait=5
            MinJobAge=2
            MessageTimeout=10
            \(nodeLines.joined(separator: "\n"))
            PartitionName=\(partition) Nodes=\(nodeNames.joined(separator: ",")) Default=YES MaxTime=INFINITE State=UP

            """
        try conf.write(toFile: configFile, atomically: true, encoding: .utf8)
    }

    static func shortHostName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, buf.count)
        let name = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return String(name.split(separator: ".").first ?? Substring(name))
    }

    // MARK: Daemons

    func startDaemons(within limit: Duration) async throws {
        mkdir("/run/munge", 0o755)
        let m = try ChildProcess(
            ["/usr/sbin/munged", "--foreground", "--force", "--socket=\(mungeSocket)", "--key-file=\(directory)/munge/munge.key",
             "--pid-file=\(directory)/munge/munged.pid", "--log-file=\(directory)/log/munged.log",
             "--seed-file=\(directory)/munge/munged.seed"],
            environment: environment, stdout: .appendTo("\(directory)/log/munged.out"), stderr: .stdout)
        munged.withLock { $0 = m }
        try await eventually("munged to listen on \(mungeSocket)", within: limit, every: .milliseconds(50)) {
            if m.termination != nil { throw Unavailable(description: "munged exited: \(self.logText("munged.out")) \(self.logText("munged.log"))") }
            return FileManager.default.fileExists(atPath: self.mungeSocket)
        }
        let c = try ChildProcess(["/usr/sbin/slurmctld", "-D", "-i", "-f", configFile], environment: environment,
                                 stdout: .appendTo("\(directory)/log/slurmctld.out"), stderr: .stdout)
        slurmctld.withLock { $0 = c }
        for name in nodeNames { try startNode(name) }
        try await eventually("\(nodeNames.count) idle Slurm nodes", within: limit, every: .milliseconds(200)) {
            if c.termination != nil { throw Unavailable(description: "slurmctld exited: \(self.logText("slurmctld.log"))") }
            return try await self.nodeStates().values.filter { $0.hasPrefix("idle") }.count == self.nodeNames.count
        }
    }

    /// Starts (or restarts) node `name`'s slurmd.
    public func startNode(_ name: String) throws {
        try FileManager.default.createDirectory(atPath: "\(directory)/spool/\(name)", withIntermediateDirectories: true)
        let d = try ChildProcess(["/usr/sbin/slurmd", "-D", "-N", name, "-f", configFile], environment: environment,
                                 stdout: .appendTo("\(directory)/log/slurmd-\(name).out"), stderr: .stdout)
        slurmds.withLock { $0[name] = d }
    }

    /// Kills node `name`'s slurmd (SIGKILL): the node stops answering; slurmctld marks it down after
    /// `SlurmdTimeout`. Its job steps keep running (linuxproc) until `killSteps` or `stop`.
    public func killNode(_ name: String) async {
        guard let d = slurmds.withLock({ $0.removeValue(forKey: name) }) else { return }
        d.signal(SIGKILL)
        await d.exit()
    }

    /// `sinfo`'s state of every node (`idle`, `alloc`, `down*`, …).
    public func nodeStates() async throws -> [String: String] {
        let r = try await run(["sinfo", "--noheader", "--Node", "--format=%N %t"])
        guard r.succeeded else { return [:] }
        var states: [String: String] = [:]
        for line in r.standardOutput.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2 { states[String(f[0])] = String(f[1]) }
        }
        return states
    }

    /// Ids of the cluster's queued and running jobs.
    public func jobIDs() async throws -> [String] {
        let r = try await run(["squeue", "--noheader", "--format=%i"]).check()
        return r.standardOutput.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Runs a Slurm client command against this cluster.
    public func run(_ argv: [String]) async throws -> CompletedProcess {
        try await ChildProcess.run(argv, environment: environment)
    }

    func logText(_ name: String) -> String {
        String((POSIX.readText("\(directory)/log/\(name)") ?? "").suffix(2000))
    }

    /// Cancels every job, stops every daemon it started (SIGTERM, then SIGKILL), kills what is left of
    /// the cluster's processes and removes the directory.
    public func stop() async {
        if slurmctld.withLock({ $0?.termination == nil && $0 != nil }) {
            if let jobs = try? await jobIDs(), !jobs.isEmpty {
                _ = try? await run(["scancel", "--full"] + jobs)
                try? await eventually("Slurm jobs to end", within: .seconds(30), every: .milliseconds(200)) {
                    (try? await self.jobIDs().isEmpty) ?? true
                }
            }
        }
        let daemons = slurmds.withLock { d in
            let all = Array(d.values)
            d.removeAll()
            return all
        } + [slurmctld.withLock { $0 }, munged.withLock { $0 }].compactMap { $0 }
        for d in daemons { await Self.end(d) }
        slurmctld.withLock { $0 = nil }
        munged.withLock { $0 = nil }
        killLeftovers()
        temporary.remove()
    }

    static func end(_ process: ChildProcess) async {
        guard process.termination == nil else { return }
        process.signal(SIGTERM)
        let killer = Task {
            try await Task.sleep(for: .seconds(20))
            process.signal(SIGKILL)
        }
        await process.exit()
        killer.cancel()
    }

    /// Every process whose environment carries this cluster's marker (job scripts, steps, ranks) or its
    /// `SLURM_CONF` (step daemons, which slurmd starts with little more than that; one on a node whose
    /// slurmd was killed outlives the cluster).
    public func leftoverProcesses() -> [pid_t] {
        let needles = [Array("\(Self.marker)=\(directory)".utf8), Array("SLURM_CONF=\(configFile)".utf8)]
        let me = getpid()
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { pid in
            guard pid != me, let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
            return data.split(separator: 0).contains { needles.contains(Array($0)) }
        }
    }

    /// This cluster's processes running in job steps on node `name` (`SLURMD_NODENAME` in their environment)
    /// whose environment holds every one of `entries` (`KEY=VALUE`): e.g. an attempt's ranks on a node.
    public func stepProcesses(on name: String, with entries: [String] = []) -> [pid_t] {
        let me = getpid()
        let wanted = [Array("SLURMD_NODENAME=\(name)".utf8)] + entries.map { Array($0.utf8) }
        let marker = [Array("\(Self.marker)=\(directory)".utf8), Array("SLURM_CONF=\(configFile)".utf8)]
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { pid in
            guard pid != me, let data = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
            let env = Set(data.split(separator: 0).map { Array($0) })
            return marker.contains(where: env.contains) && wanted.allSatisfy(env.contains)
        }
    }

    func killLeftovers() {
        for pid in leftoverProcesses() { kill(pid, SIGKILL) }
    }
}
