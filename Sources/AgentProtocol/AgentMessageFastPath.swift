import RingmasterModel

/// The agent messages of every second — heartbeats, step progress, checkpoint reports — and those of a large
/// launch or teardown (`started`, `exited`, thousands at once), read and written
/// without `JSONEncoder`/`JSONDecoder`, whose per-key generic machinery cost the controller most of its CPU at
/// 4,096 ranks (`ringmaster bench scale`). Same wire format, same values: `decode` returns nil for any line
/// it does not read exactly as `JSONDecoder` would (another message type, an escape in a string, a number in
/// a form it does not take), and the caller decodes that line with `JSONDecoder`; `encode` returns nil for a
/// message it does not write, which then goes through `JSONEncoder`.
public enum AgentMessageFastPath {
    public static func decode(_ line: some Collection<UInt8>) -> AgentMessage? {
        guard let json = PlainJSON.parse(line), let type = json["type"]?.string else { return nil }
        switch type {
        case "heartbeat": return heartbeat(json).map(AgentMessage.heartbeat)
        case "progress": return progress(json).map(AgentMessage.progress)
        case "checkpoint": return checkpoint(json).map(AgentMessage.checkpoint)
        case "steps": return steps(json).map(AgentMessage.steps)
        case "started": return started(json).map(AgentMessage.started)
        case "exited": return exited(json).map(AgentMessage.exited)
        default: return nil
        }
    }

    /// An optional field: absent or null is nil (`.some(nil)`); present in a form not taken is `.none`.
    private static func optional<T>(_ value: PlainJSON?, _ read: (PlainJSON) -> T?) -> T?? {
        guard let value, !value.isNull else { return .some(nil) }
        return read(value).map { .some($0) }
    }

    private static func rankRef(_ json: PlainJSON?) -> RankRef? {
        guard let json, let job = json["job"]?.string, let attempt = json["attempt"]?.integer(Int.self),
              let rank = json["rank"]?.integer(Int.self) else { return nil }
        return RankRef(job: JobID(rawValue: job), attempt: attempt, rank: rank)
    }

    private static func heartbeat(_ json: PlainJSON) -> Heartbeat? {
        guard let sequence = json["sequence"]?.integer(UInt64.self), let load = json["load"],
              let cpuBusy = load["cpuBusy"]?.double, let loadAverage = load["loadAverage1m"]?.double,
              let used = load["memoryUsedBytes"]?.integer(UInt64.self), let total = load["memoryTotalBytes"]?.integer(UInt64.self),
              let rankList = json["ranks"]?.array, let agentRSS = json["agentRSSBytes"]?.integer(UInt64.self),
              let malformed = json["malformedReports"]?.integer(UInt64.self),
              let ping = optional(json["ping"], { $0.integer(UInt64.self) }),
              let warm = optional(json["warmInterpreters"], { $0.integer(Int.self) }) else { return nil }
        var ranks: [RankUsage] = []
        ranks.reserveCapacity(rankList.count)
        for usage in rankList {
            guard let rank = rankRef(usage["rank"]), let pid = usage["pid"]?.integer(Int32.self),
                  let rss = usage["rssBytes"]?.integer(UInt64.self) else { return nil }
            ranks.append(RankUsage(rank: rank, pid: pid, rssBytes: rss))
        }
        return Heartbeat(
            sequence: sequence, load: HostLoad(cpuBusy: cpuBusy, loadAverage1m: loadAverage, memoryUsedBytes: used, memoryTotalBytes: total),
            ranks: ranks, agentRSSBytes: agentRSS, malformedReports: malformed, ping: ping, warmInterpreters: warm)
    }

    private static func progress(_ json: PlainJSON) -> RankProgress? {
        guard let rank = rankRef(json["rank"]), let step = optional(json["step"], { $0.integer(Int.self) }),
              let metric = optional(json["metric"], { $0.string }), let value = optional(json["value"], { $0.double }) else { return nil }
        return RankProgress(rank: rank, step: step, metric: metric, value: value)
    }

    private static func checkpoint(_ json: PlainJSON) -> CheckpointReport? {
        guard let rank = rankRef(json["rank"]), let step = json["step"]?.integer(Int.self),
              let failure = optional(json["failure"], { $0.string }) else { return nil }
        return CheckpointReport(rank: rank, step: step, failure: failure)
    }

    private static func steps(_ json: PlainJSON) -> StepBatch? {
        guard let job = json["job"]?.string, let attempt = json["attempt"]?.integer(Int.self),
              let rankList = json["ranks"]?.array, let stepList = json["steps"]?.array, rankList.count == stepList.count
        else { return nil }
        var ranks: [Int] = [], steps: [Int] = []
        ranks.reserveCapacity(rankList.count)
        steps.reserveCapacity(stepList.count)
        for (r, s) in zip(rankList, stepList) {
            guard let rank = r.integer(Int.self), let step = s.integer(Int.self) else { return nil }
            ranks.append(rank)
            steps.append(step)
        }
        return StepBatch(job: JobID(rawValue: job), attempt: attempt, ranks: ranks, steps: steps)
    }

    private static func started(_ json: PlainJSON) -> RankStarted? {
        guard let rank = rankRef(json["rank"]), let pid = json["pid"]?.integer(Int32.self) else { return nil }
        return RankStarted(rank: rank, pid: pid)
    }

    private static func exited(_ json: PlainJSON) -> RankExited? {
        guard let rank = rankRef(json["rank"]), let status = optional(json["status"], { $0.integer(Int32.self) }),
              let signal = optional(json["signal"], { $0.integer(Int32.self) }), let error = optional(json["error"], { $0.string })
        else { return nil }
        return RankExited(rank: rank, status: status, signal: signal, error: error)
    }

    // MARK: - Writing

    public static func encode(_ message: AgentMessage) -> [UInt8]? {
        var w = JSONLineWriter()
        switch message {
        case .heartbeat(let m):
            guard m.load.cpuBusy.isFinite, m.load.loadAverage1m.isFinite else { return nil }
            w.object { w in
                w.field("type", "heartbeat")
                w.field("sequence", m.sequence)
                w.key("load")
                w.object { w in
                    w.field("cpuBusy", m.load.cpuBusy)
                    w.field("loadAverage1m", m.load.loadAverage1m)
                    w.field("memoryUsedBytes", m.load.memoryUsedBytes)
                    w.field("memoryTotalBytes", m.load.memoryTotalBytes)
                }
                w.key("ranks")
                w.array(m.ranks) { w, usage in
                    w.object { w in
                        w.rankRef(usage.rank)
                        w.field("pid", usage.pid)
                        w.field("rssBytes", usage.rssBytes)
                    }
                }
                w.field("agentRSSBytes", m.agentRSSBytes)
                w.field("malformedReports", m.malformedReports)
                if let ping = m.ping { w.field("ping", ping) }
                if let warm = m.warmInterpreters { w.field("warmInterpreters", warm) }
            }
        case .progress(let m):
            if let value = m.value, !value.isFinite { return nil }
            w.object { w in
                w.field("type", "progress")
                w.rankRef(m.rank)
                if let step = m.step { w.field("step", step) }
                if let metric = m.metric { w.field("metric", metric) }
                if let value = m.value { w.field("value", value) }
            }
        case .checkpoint(let m):
            w.object { w in
                w.field("type", "checkpoint")
                w.rankRef(m.rank)
                w.field("step", m.step)
                if let failure = m.failure { w.field("failure", failure) }
            }
        case .steps(let m):
            guard m.ranks.count == m.steps.count else { return nil }
            w.object { w in
                w.field("type", "steps")
                w.field("job", m.job.rawValue)
                w.field("attempt", m.attempt)
                w.key("ranks")
                w.array(m.ranks) { w, rank in w.number(rank) }
                w.key("steps")
                w.array(m.steps) { w, step in w.number(step) }
            }
        case .started(let m):
            w.object { w in
                w.field("type", "started")
                w.rankRef(m.rank)
                w.field("pid", m.pid)
            }
        case .exited(let m):
            w.object { w in
                w.field("type", "exited")
                w.rankRef(m.rank)
                if let status = m.status { w.field("status", status) }
                if let signal = m.signal { w.field("signal", signal) }
                if let error = m.error { w.field("error", error) }
            }
        default:
            return nil
        }
        return w.bytes
    }
}
