import AgentProtocol
import ControllerAPI
import FaultPolicy
import Foundation
import RingmasterModel
import StateStore

#if canImport(Glibc)
import Glibc
#endif

extension RunnerLoop {
    /// Injects a failure into the job's running attempt and records `chaos.injected` (its time is the
    /// failure's, for detection latency).
    func chaos(_ id: JobID, _ request: ChaosRequest, reply: CheckedContinuation<Result<ChaosReport, APIErrorBody>, Never>) {
        func refuse(_ error: String, _ hint: String? = nil) {
            reply.resume(returning: .failure(APIErrorBody(error: error, hint: hint)))
        }
        // An attempt gathering its survivors for an in-process rejoin still runs them: a second failure may come.
        guard let a = core.jobs[id]?.attempt, !a.stopping || a.rejoin != nil, let r = resources[id], r.number == a.number else {
            return refuse("job \(id) has no running attempt to inject into", "`ringmaster jobs` shows which jobs run")
        }
        var rng = SplitMix64(seed: request.seed ?? core.draw())
        let live = a.placement.ranks.filter { a.started.contains($0.rank) && !a.gone.contains($0.rank) }
        guard !live.isEmpty else { return refuse("job \(id) has no running rank yet") }
        let now = self.now.wall
        var rank: Int?
        let node: NodeID
        let message: String
        switch request.action {
        case .killRank, .hangRank:
            if let r = request.rank {
                guard live.contains(where: { $0.rank == r }) else {
                    return refuse("rank \(r) of \(id) is not running", "ranks are 0…\(a.placement.worldSize - 1)")
                }
                rank = r
            } else {
                rank = live[Int(rng.next() % UInt64(live.count))].rank
            }
            node = a.placement.ranks[rank!].node
            let signal = request.action == .killRank ? SIGKILL : SIGSTOP
            let ref = RankRef(job: id, attempt: a.number, rank: rank!)
            guard runner.nodes.send(.signal(SignalRequest(rank: ref, signal: signal)), to: node) else {
                return refuse("node \(node) has no open channel")
            }
            message = request.action == .killRank ? "kill-rank: SIGKILL to rank \(rank!) on \(node)"
                : "hang-rank: SIGSTOP to rank \(rank!) on \(node)"
        case .killNode, .stopAgent:
            let nodes = a.placement.nodes
            if let n = request.node {
                guard nodes.contains(NodeID(n)) else {
                    return refuse("node \(n) runs no rank of \(id)", "its nodes are \(nodes.map(\.rawValue).joined(separator: ", "))")
                }
                node = NodeID(n)
            } else {
                node = nodes[Int(rng.next() % UInt64(nodes.count))]
            }
            if request.external == true {
                message = "\(request.action.rawValue): \(node) (done by the client)"
                break
            }
            if let injected = runner.nodes.inject(request.action == .killNode ? .kill : .stopAgent, into: [node]) {
                switch injected {
                case .success(let text): message = "\(request.action.rawValue): \(text)"
                case .failure(let refusal): return refuse("\(request.action.rawValue): \(refusal)")
                }
                break
            }
            guard runner.options.local, let pid = agentPIDs[node] else {
                return refuse("\(request.action.rawValue) acts on local agents from the controller",
                              "on the network-namespace cluster, run `ringmaster chaos` as root: it acts on the host's namespace")
            }
            if request.action == .killNode {
                // The agent first, so no rank exit is reported before the node's loss (as when a host dies).
                kill(pid, SIGKILL)
                for rank in a.placement.ranks(on: node) { if let p = r.rankPIDs[rank.rank] { kill(p, SIGKILL) } }
                message = "kill-node: SIGKILL to \(node)'s agent (pid \(pid)) and its \(a.placement.ranks(on: node).count) ranks"
            } else {
                kill(pid, SIGSTOP)
                message = "stop-agent: SIGSTOP to \(node)'s agent (pid \(pid)); its heartbeats stop"
            }
        case .partition:
            let nodes = a.placement.nodes
            let named = request.nodes ?? request.node.map { [$0] } ?? [nodes[Int(rng.next() % UInt64(nodes.count))].rawValue]
            let seconds = request.seconds ?? 10
            guard seconds > 0, seconds <= 86_400 else { return refuse("partition: \(seconds) s is not a length in (0, 86400]") }
            switch runner.nodes.inject(.partition(.milliseconds(Int64(seconds * 1000))), into: named.map { NodeID($0) }) {
            case .success(let text): message = "partition: \(text)"
            case .failure(let refusal): return refuse("partition: \(refusal)")
            case nil: return refuse("partition acts on simulated clusters",
                                    "on the network-namespace cluster, `NetnsCluster.partition` cuts a host's link (tests)")
            }
            node = NodeID(named[0])
        }
        supervise(.injected(id, what: request.action.rawValue))
        write("recording the injection", job: id) { [store] _ in
            try store.recordEvent(EventRecord(time: now, kind: .chaosInjected, jobId: id, attemptId: r.attemptID, nodeId: node,
                                              rank: rank, message: "chaos \(message)",
                                              payload: EventRecord.payload(["action": request.action.rawValue])))
        }
        reply.resume(returning: .success(ChaosReport(action: request.action, node: node.rawValue, rank: rank, at: now,
                                                     message: message)))
    }
}
