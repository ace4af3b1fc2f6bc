import AgentProtocol
import RingmasterModel

/// Controller messages: launch, signal, ping, requests relayed to ranks, rejoins; and protocol violations.
extension AgentCore {
    /// Acts on complete controller lines in order, pausing at a launch until the shell says how it went.
    mutating func readControllerMessages(now: Duration) {
        while awaitingSpawn == nil {
            switch reader.next() {
            case .none:
                return
            case .violation(let text):
                actions.append(.log(text))
                send(.error(ProtocolErrorReport(message: text)))
                beginShutdown(reason: "protocol violation", now: now)
                return
            case .message(.launch(let request)):
                launch(request, now: now)
            case .message(.signal(let request)):
                deliver(request, now: now)
            case .message(.ping(let ping)):
                sendHeartbeat(ping: ping.id)
            case .message(.checkpointNow(let request)):
                relay(request)
            case .message(.warmPool(let request)):
                resizeWarmPool(request, now: now)
            case .message(.abandon(let request)):
                relay(request)
            case .message(.rejoin(let request)):
                rejoin(request)
            }
        }
    }

    mutating func launch(_ request: LaunchRequest, now: Duration) {
        guard shutdown == nil else { return }
        if let existing = ranks[request.rank] {
            send(.exited(RankExited(rank: request.rank, error: "rank \(request.rank) is already running as pid \(existing.pid)")))
            return
        }
        guard !request.argv.isEmpty else { return launchFailed(request.rank, reason: "empty argv") }
        var request = request
        if request.env["PATH"] == nil { request.env["PATH"] = configuration.defaultPath }
        spawnCount += 1
        let controlPath = "\(configuration.stateDirectory)/a\(configuration.agentPID)-\(spawnCount).sock"
        request.env["RINGMASTER_CONTROL"] = controlPath
        // The C ABI library deployed beside the agent, for Python ranks (`ringmaster.torch.ring_group`).
        if request.env["RINGMASTER_LIBRARY"] == nil, let library = configuration.collectivesLibrary {
            request.env["RINGMASTER_LIBRARY"] = library
        }
        awaitingSpawn = request.rank
        let warmPID = request.warm.flatMap { warm.take($0, now: now) }
        actions.append(.spawn(RankSpawn(request: request, controlPath: controlPath, warmPID: warmPID)))
    }

    mutating func launchFailed(_ rank: RankRef, reason: String) {
        actions.append(.log("launch \(rank): \(reason)"))
        send(.exited(RankExited(rank: rank, status: 127, error: reason)))
    }

    /// The signal to the named rank's group (or every rank's); with a grace period, SIGKILL at its end.
    mutating func deliver(_ request: SignalRequest, now: Duration) {
        let targets = request.rank.map { ranks[$0].map { [$0] } ?? [] } ?? liveRanksInOrder
        for rank in targets {
            actions.append(.signalGroup(pid: rank.pid, signal: request.signal))
            if let grace = request.graceMilliseconds, request.signal != Signal.kill {
                kills.arm(rank.ref, at: now + .milliseconds(max(grace, 0)))
            }
        }
    }
}

extension AgentCore {
    /// `checkpoint-now STEP` to the rank's report socket; a rank that is gone (or never reported, so has no
    /// address to answer) loses nothing but the request.
    mutating func relay(_ request: CheckpointNowRequest) {
        relay("checkpoint-now \(request.step)", to: request.rank)
    }

    /// One request line to a live rank's report address; for a rank that is gone, a log line naming it.
    mutating func relay(_ line: String, to rank: RankRef) {
        guard ranks[rank] != nil else {
            actions.append(.log("\(line.prefix { $0 != " " }) for \(rank): no such rank here"))
            return
        }
        actions.append(.relay(rank, line: line))
    }
}
