import AgentProtocol
import RingmasterModel

/// What the time decides: log flushes, kill deadlines, shutdown, heartbeats.
extension AgentCore {
    mutating func runTimers(now: Duration) {
        if let due = logFlushAt, now >= due {
            logFlushAt = nil
            for rank in liveRanksInOrder {
                for stream in [LogStream.stdout, .stderr] where rank.output.hasPending(stream) {
                    flushLogs(of: rank.ref, stream, final: false, now: now)
                }
            }
        }
        if let due = stepFlushAt, now >= due { flushHeldSteps() }
        for rank in kills.takeDue(at: now) {
            if let live = ranks[rank] { actions.append(.signalGroup(pid: live.pid, signal: Signal.kill)) }
        }
        if shutdown?.takeKillDue(at: now) == true {
            for rank in liveRanksInOrder { actions.append(.signalGroup(pid: rank.pid, signal: Signal.kill)) }
        }
        if shutdown == nil {
            for (spec, count) in warm.takeDueRefills(at: now) {
                actions += Array(repeating: .startWarm(spec), count: count)
            }
        }
        if heartbeats.takeDue(at: now) {
            sendHeartbeat(ping: nil)
        }
        if let deadline = controllerSilenceDeadline, now >= deadline, let heard = controllerHeardAt,
            let limit = configuration.controllerSilenceLimit
        {
            beginShutdown(
                reason: "nothing from the controller for \((now - heard).manifestText) (limit \(limit.manifestText))", now: now)
        }
    }

    /// When the controller's silence ends the agent, unless something comes from it first (or the agent is
    /// already on its way out).
    var controllerSilenceDeadline: Duration? {
        guard shutdown == nil, let limit = configuration.controllerSilenceLimit, let heard = controllerHeardAt else { return nil }
        return heard + limit
    }

    /// The controller is gone (or broke the protocol): stop every rank, then exit. No orphans.
    mutating func beginShutdown(reason: String, now: Duration) {
        guard shutdown == nil else { return }
        actions.append(.log("\(reason): stopping \(ranks.count) rank(s)"))
        shutdown = Shutdown(reason: reason, at: now, grace: configuration.shutdownGrace, exitBound: configuration.exitBound)
        for rank in liveRanksInOrder { actions.append(.signalGroup(pid: rank.pid, signal: Signal.terminate)) }
        // Waiting interpreters hold nothing: they go at once, and the exit waits for them with the ranks.
        stoppedWarm = warm.removeAll()
        for pid in stoppedWarm { actions.append(.signalGroup(pid: pid, signal: Signal.kill)) }
    }

    /// Once shutting down: exit when no rank is left, or at the bound (SIGKILL to what is left, then exit).
    mutating func exitIfDone(now: Duration) {
        guard let shutdown, awaitingSpawn == nil else { return }
        if ranks.isEmpty {
            flushHeldSteps()
            exited = true
            actions.append(.exit(awaiting: stoppedWarm))
        } else if shutdown.exitDue(at: now) {
            let left = liveRanksInOrder.map(\.pid)
            for pid in left { actions.append(.signalGroup(pid: pid, signal: Signal.kill)) }
            flushHeldSteps()
            exited = true
            actions.append(.exit(awaiting: left + stoppedWarm))
        }
    }
}
