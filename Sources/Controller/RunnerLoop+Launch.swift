import AgentProtocol
import Checkpointing
import Collectives
import Foundation
import NodeManager
import RingmasterModel
import StateStore
import Supervision
import SystemUtilities

extension RunnerLoop {
    /// Reads the resume candidates' COMMITTED markers, newest first, up to the first usable one (a marker
    /// that names another job is `foreign`), and imports a `resumeFrom` step; answers `prepared`.
    func prepare(_ p: LaunchPreparation) {
        var check = LaunchCheck()
        guard let job = (try? store.job(p.job)) ?? nil else {
            followUps.append(.prepared(p.job, attempt: p.attempt, LaunchCheck(importError: "the job's row is gone")))
            return
        }
        if let layout = CheckpointFolder.layout(of: job) {
            for step in p.candidates {
                guard let problem = CheckpointFolder.markerProblem(layout, step: step, job: job) else { break }
                check.problems[step] = problem
                if CommitMarker.read(layout, step: step) != nil { check.foreign.insert(step) }
            }
            if let source = p.importFrom {
                do { check.imported = try CheckpointFolder.importStep(from: source, into: layout, job: job, at: now.wall) } catch {
                    check.importError = "\(error)"
                }
            }
        }
        followUps.append(.prepared(p.job, attempt: p.attempt, check))
    }

    /// Persists the attempt, opens its rendezvous and sends `launch` for every rank; answers `launched`.
    /// When the attempt cannot be recorded because the store cannot be written for now, nothing is launched
    /// and the answer is `launchDeferred` (the supervisor tries again).
    func launch(_ order: LaunchOrder) {
        let options = runner.options
        var recorded = false
        do {
            guard let job = try store.job(order.job) else { throw StoreError.unknownJob(order.job) }
            try journal.ready(now: now)
            let placement = order.placement
            let rendezvous = try RendezvousServer(attempt: order.attempt, token: order.token.rawValue,
                                                  worldSize: placement.worldSize, host: options.rendezvousHost)
            let record: AttemptRecord
            do {
                record = try store.startAttempt(job.id, placement: placement, token: order.token, resumeStep: order.resumeStep,
                                                at: now.wall)
            } catch {
                rendezvous.shutdown()
                throw error
            }
            recorded = true
            if let imported = order.resumeStep, let source = order.imported, let layout = CheckpointFolder.layout(of: job) {
                try store.commitCheckpoint(job: job.id, attempt: record.id!, step: imported, dir: layout.stepDirectory(imported),
                                           at: now.wall, importedFrom: source)
            }
            let r = AttemptResources(job: job, attempt: record, rendezvous: rendezvous)
            resources[job.id] = r
            attemptRows[job.id] = (record.number, record.id!)
            runner.placements.withLock { $0[job.id] = placement }
            runner.logs.attemptStarted(job: job.id, attempt: record.number)
            publish(r)
            let statuses = Dictionary(uniqueKeysWithValues: runner.nodes.statuses().map { ($0.entry.id, $0) })
            let kinds = statuses.mapValues { $0.hello?.accelerators.first?.kind ?? .simulated }
            let rank0Node = placement.ranks[0].node
            let masterAddress = options.local
                ? "127.0.0.1" : (options.nodeAddress?(rank0Node) ?? statuses[rank0Node]?.entry.host ?? "127.0.0.1")
            let masterPort = options.local ? POSIX.freeLoopbackPort() : order.masterPort
            let environment = RankEnvironment(
                job: job.id, spec: job.spec, attempt: record.number, placement: placement, token: order.token,
                rendezvous: rendezvous.address, masterAddress: masterAddress, masterPort: masterPort,
                resumeStep: order.resumeStep, acceleratorKinds: kinds, base: baseEnvironment(),
                checkpointDirectory: CheckpointFolder.layout(of: job)?.directory)
            let warm = warmSpec(of: job.spec)
            if let warm {
                sizeWarmPools(WarmPoolOrder(job: job.id, placement: placement, spares: order.warmSpares), spec: job.spec, kind: warm)
            }
            var undelivered: [Int] = []
            let survivors = Set(order.rejoin?.survivors ?? [])
            for a in placement.ranks {
                let ref = RankRef(job: job.id, attempt: record.number, rank: a.rank)
                var env = environment.variables(rank: a.rank)
                if let rejoin = job.spec.warm?.rejoin { env[RejoinVariables.deadline] = String(format: "%g", rejoin.seconds) }
                if order.rejoin != nil { env[RejoinVariables.source] = "peers" }
                let message: ControllerMessage
                if let from = order.rejoin?.from, survivors.contains(a.rank) {
                    message = .rejoin(RejoinRequest(rank: RankRef(job: job.id, attempt: from, rank: a.rank), to: ref,
                                                    env: RejoinVariables.changing(env)))
                } else {
                    message = .launch(LaunchRequest(
                        rank: ref, argv: job.spec.command, env: env, cwd: job.spec.workdir,
                        logDir: agentLogDirectory(job: job.id, attempt: record.number, node: a.node), warm: warm))
                }
                if !runner.nodes.send(message, to: a.node) { undelivered.append(a.rank) }
            }
            followUps.append(.launched(job.id, attempt: order.attempt, rendezvous: rendezvous.address, undelivered: undelivered))
        } catch let error as StoreError where error.isTransient && !recorded {
            journal.failed(error, what: "recording attempt \(order.attempt) of \(order.job)", now: now)
            followUps.append(.launchDeferred(order.job, attempt: order.attempt, error: "\(error)"))
        } catch {
            followUps.append(.launchFailed(order.job, attempt: order.attempt, error: "\(error)"))
        }
    }

    /// Where the node's agent keeps the ranks' raw stdout/stderr: the state directory on a local or Slurm
    /// cluster, the login directory's `.ringmaster/logs` on SSH nodes.
    func agentLogDirectory(job: JobID, attempt: Int, node: NodeID) -> String {
        runner.options.logsInStateDirectory
            ? "\(runner.options.stateDirectory.logDirectory(job: job.rawValue, attempt: attempt))/agent-\(node)"
            : ".ringmaster/logs/\(job)/attempt-\(attempt)"
    }

    /// PATH with Ringmaster's own executables first, plus HOME and LANG from the controller.
    func baseEnvironment() -> [String: String] {
        let env = ProcessInfo.processInfo.environment
        var base: [String: String] = [
            "PATH": runner.options.binDirectory + ":" + (env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin")
        ]
        for key in ["HOME", "LANG", "USER", "TMPDIR"] { if let v = env[key] { base[key] = v } }
        return base
    }
}
