import SystemUtilities
import AgentProtocol
import RingmasterModel

/// Rank life: spawned or not, output, reports, exit.
extension AgentCore {
    mutating func spawned(_ rank: RankRef, pid: Int32, now: Duration) {
        if awaitingSpawn == rank { awaitingSpawn = nil }
        ranks[rank] = LiveRank(
            ref: rank, pid: pid,
            output: RankOutput(maxPendingBytes: configuration.maxPendingLogBytes, maxLineBytes: configuration.maxLogLineBytes))
        send(.started(RankStarted(rank: rank, pid: pid)))
        // Launches are refused once shutdown began; a rank that still got through is stopped with the others.
        if let shutdown {
            actions.append(.signalGroup(pid: pid, signal: shutdown.killSent ? Signal.kill : Signal.terminate))
        }
        readControllerMessages(now: now)
    }

    mutating func spawnFailed(_ rank: RankRef, reason: String, now: Duration) {
        if awaitingSpawn == rank { awaitingSpawn = nil }
        launchFailed(rank, reason: reason)
        readControllerMessages(now: now)
    }

    mutating func output(_ bytes: [UInt8], from rank: RankRef, _ stream: LogStream, now: Duration) {
        guard ranks[rank] != nil else { return }
        ranks[rank]!.output.ingest(bytes, from: stream)
        // Batches leave on the flush timer only: at most one batcher's worth per stream per tick is encoded
        // and forwarded, so a flooding rank costs the agent a disk write and a byte count.
        if logFlushAt == nil { logFlushAt = now + configuration.logFlushInterval }
    }

    mutating func report(_ datagram: [UInt8], from rank: RankRef, now: Duration) {
        guard ranks[rank] != nil else { return }
        let (reports, malformed) = RankReport.parseDatagram(datagram)
        malformedReports += UInt64(malformed)
        for report in reports {
            if case .step(let n) = report, let window = configuration.reportBatchInterval {
                heldSteps.hold(rank, step: n)
                if stepFlushAt == nil { stepFlushAt = now + window }
                continue
            }
            let (message, droppable) = report.message(of: rank)
            send(message, droppable: droppable)
        }
    }

    /// The held step reports as `steps` messages, one per attempt (droppable like the progress they replace).
    mutating func flushHeldSteps() {
        stepFlushAt = nil
        guard !heldSteps.isEmpty else { return }
        for batch in heldSteps.take() {
            guard mayQueue(droppable: true, bytes: WireEstimate.bytes(of: .steps(batch))) else { continue }
            actions.append(.send(.steps(batch)))
        }
    }

    /// Forwards what the rank left behind (output first, then reports), then `exited`.
    mutating func rankExited(_ rank: RankRef, _ termination: POSIX.Termination, finalReports: [[UInt8]], now: Duration) {
        guard ranks[rank] != nil else { return }
        kills.cancel(rank)
        for stream in [LogStream.stdout, .stderr] {
            flushLogs(of: rank, stream, final: true, now: now)
        }
        for datagram in finalReports { report(datagram, from: rank, now: now) }
        ranks[rank] = nil
        actions.append(.closeRank(rank))
        switch termination {
        case .exited(let code): send(.exited(RankExited(rank: rank, status: code)))
        case .signaled(let signal): send(.exited(RankExited(rank: rank, signal: signal)))
        }
    }

    /// Sends the stream's batch, unless the controller is behind: then it waits for the next flush, one interval
    /// later, while its batcher drops and counts. A final batch never waits.
    mutating func flushLogs(of rank: RankRef, _ stream: LogStream, final: Bool, now: Duration) {
        guard final || budget.logsMayFlush else {
            if logFlushAt == nil { logFlushAt = now + configuration.logFlushInterval }
            return
        }
        guard let batch = ranks[rank]?.output.batch(of: rank, stream, final: final) else { return }
        send(.log(batch), droppable: true)
    }
}
