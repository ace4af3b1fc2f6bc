import AgentProtocol
import RingmasterModel

/// In-process rejoin: `abandon` relayed to a rank, and a rank that abandoned its step moved into the next
/// attempt (`rejoin`).
extension AgentCore {
    /// `abandon ATTEMPT DEADLINE_MS` to the rank's report socket; a rank that is gone loses nothing.
    mutating func relay(_ request: AbandonRequest) {
        relay("abandon \(request.rank.attempt) \(max(0, request.deadlineMilliseconds))", to: request.rank)
    }

    /// Files the live rank under the new attempt, answers `started` for it there and relays the new
    /// environment. A rank that is gone (it gave up waiting, or died) is the new attempt's failure: `exited`
    /// with an error under the new reference. A reference already in use is refused the same way.
    mutating func rejoin(_ request: RejoinRequest) {
        guard let live = ranks[request.rank] else {
            send(.exited(RankExited(rank: request.to, status: 1, error: "rank \(request.rank) is gone: it cannot rejoin")))
            return
        }
        guard ranks[request.to] == nil, request.to != request.rank else {
            send(.exited(RankExited(rank: request.to, status: 1, error: "rank \(request.to) is already running here")))
            return
        }
        flushHeldSteps()  // the old attempt's held steps leave under the old reference
        ranks[request.rank] = nil
        ranks[request.to] = LiveRank(ref: request.to, pid: live.pid, output: live.output)
        kills.rekey(request.rank, to: request.to)
        actions.append(.rekey(request.rank, to: request.to))
        send(.started(RankStarted(rank: request.to, pid: live.pid)))
        actions.append(.relay(request.to, line: request.line))
    }
}
