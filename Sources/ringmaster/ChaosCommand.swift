import ArgumentParser
import ControllerAPI
import FaultPolicy
import JobManifest
import RingmasterModel
import Foundation
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// `ringmaster chaos ACTION JOB`: inject failures into a running job, once or as a Poisson process.
struct Chaos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inject failures into a running job: kill-rank, hang-rank, kill-node, stop-agent, partition (or mixed).",
        discussion: """
            kill-rank sends SIGKILL to a rank, hang-rank SIGSTOP (it stops reporting steps), kill-node kills a node's
            agent and its ranks, stop-agent SIGSTOPs the agent (its heartbeats stop). The rank or node is picked at
            random (from --seed) unless given. With --every, failures arrive as a Poisson process with that mean
            interval until the job ends (or --count are injected); `mixed` picks the kind each time. On the
            network-namespace cluster, run as root, kill-node kills the host's sshd and everything in its namespace
            and stop-agent SIGSTOPs the host's agent. On a simulated cluster kill-node and stop-agent act on the
            simulated agent, and partition cuts --nodes (or --node, or one picked) off from the controller --for a while.
            """)

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case killRank = "kill-rank", hangRank = "hang-rank", killNode = "kill-node", stopAgent = "stop-agent", partition, mixed
    }

    @Argument(help: "kill-rank, hang-rank, kill-node, stop-agent, partition or mixed.")
    var action: Kind

    @Argument(help: "Job id.")
    var job: String

    @Option(name: .long, help: "The rank to act on.")
    var rank: Int?

    @Option(name: .long, help: "The node to act on.")
    var node: String?

    @Option(name: .long, help: "partition: the nodes cut off, comma-separated (simulated clusters).")
    var nodes: String?

    @Option(name: .customLong("for"), help: "partition: how long (e.g. 10s).")
    var length: String = "10s"

    @Option(name: .long, help: "Mean interval of a Poisson process of failures (e.g. 30s).")
    var every: String?

    @Option(name: .long, help: "Seed for the schedule and the picks.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "With --every: stop after this many injections.")
    var count: Int?

    @OptionGroup var options: ClientOptions

    func validate() throws {
        if let every, Self.seconds(every) == nil { throw ValidationError("--every \(every) is not a duration like 30s or 500ms") }
        if every == nil, action == .mixed { throw ValidationError("mixed needs --every") }
        if Self.seconds(length) == nil { throw ValidationError("--for \(length) is not a duration like 10s or 500ms") }
        if nodes != nil, action != .partition { throw ValidationError("--nodes is for partition; use --node for \(action.rawValue)") }
    }

    /// `--every`: a manifest-style duration, above zero.
    static func seconds(_ text: String) -> Double? {
        guard let d = Quantities.duration(text), d > .zero else { return nil }
        return d.seconds
    }

    func run() async throws {
        let client = try options.client()
        let request = ChaosRequest(action: .killRank, rank: rank, node: node, seed: seed,
                                   nodes: nodes.map { $0.split(separator: ",").map(String.init) }, seconds: Self.seconds(length))
        let (action, job, json, every, count, seed) = (self.action, self.job, options.json, self.every.flatMap(Self.seconds), self.count, self.seed)
        try await ClientFailure.call {
            var rng = SplitMix64(seed: seed)
            var injected = 0
            repeat {
                if let every {
                    let wait = rng.exponential(mean: every)
                    let deadline = Date().addingTimeInterval(wait)
                    // Poll the job's state while waiting, so the injector ends with the job.
                    while Date() < deadline {
                        Thread.sleep(forTimeInterval: min(0.5, max(0, deadline.timeIntervalSinceNow)))
                        let state = try client.get("\(APIVersion.prefix)/jobs/\(job)", as: JobDetail.self).job.state
                        if state.isFinal { return }
                    }
                }
                let kinds = ChaosRequest.Action.mixable
                var r = request
                r.action = action == .mixed ? kinds[Int(rng.next() % UInt64(kinds.count))] : ChaosRequest.Action(rawValue: action.rawValue)!
                r.seed = rng.next()
                do {
                    let report = try Self.inject(r, job: job, client: client)
                    injected += 1
                    if json { try Output.json(report) } else { Output.line("\(Human.time(report.at))  chaos \(report.message)") }
                } catch let failure as ControllerClient.Failure where every != nil && failure.status == 409 {
                    // Between attempts (recovering): nothing to inject into this time.
                    Output.line("\(Human.time(Date()))  chaos skipped: \(failure.body.error)")
                }
            } while every != nil && count.map { injected < $0 } ?? true
        }
    }

    /// Asks the controller. For kill-node and stop-agent on a host living in a network namespace of this
    /// machine (the test cluster), when root: kills everything in that namespace, or SIGSTOPs the node's
    /// agent, and has the controller record it.
    static func inject(_ request: ChaosRequest, job: String, client: ControllerClient) throws -> ChaosReport {
        if request.action == .killNode || request.action == .stopAgent, geteuid() == 0 {
            let ranks = try client.get("\(APIVersion.prefix)/jobs/\(job)/ranks", as: [RankView].self)
            let nodes = try client.get("\(APIVersion.prefix)/nodes", as: [NodeView].self)
            let used = Array(Set(ranks.filter { $0.state != .exited }.map(\.node))).sorted()
            var rng = SplitMix64(seed: request.seed ?? 1)
            let name = request.node ?? (used.isEmpty ? nil : used[Int(rng.next() % UInt64(used.count))])
            if let name, let node = nodes.first(where: { $0.id == name }), node.host != "localhost",
               let pid = node.agentPID, let ns = NamespaceHosts.namespace(of: pid) {
                var r = request
                r.node = name
                r.external = true
                // Recorded first (the injection's time), then done.
                let report = try client.post("\(APIVersion.prefix)/jobs/\(job)/chaos", body: r, as: ChaosReport.self)
                if request.action == .killNode { NamespaceHosts.killAll(in: ns) } else { kill(pid, SIGSTOP) }
                return report
            }
        }
        return try client.post("\(APIVersion.prefix)/jobs/\(job)/chaos", body: request, as: ChaosReport.self)
    }
}

/// Network namespaces of this machine (the namespace test cluster's hosts).
enum NamespaceHosts {
    static func run(_ argv: [String]) -> String {
        (try? POSIX.capture(argv, mergeStderr: false).output) ?? ""
    }

    /// The named network namespace the process `pid` (a node's agent) lives in, if any.
    static func namespace(of pid: Int32) -> String? {
        run(["ip", "netns", "identify", "\(pid)"]).split(whereSeparator: \.isWhitespace).first.map(String.init)
    }

    /// SIGKILL to every process in the namespace (its sshd, agent and ranks).
    static func killAll(in namespace: String) {
        for pid in run(["ip", "netns", "pids", namespace]).split(whereSeparator: \.isWhitespace).compactMap({ pid_t($0) }) {
            kill(pid, SIGKILL)
        }
    }
}
