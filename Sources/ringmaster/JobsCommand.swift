import ArgumentParser
import ControllerAPI
import Foundation

/// `ringmaster jobs`.
struct Jobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the controller's jobs, newest first.")

    @OptionGroup var options: ClientOptions

    func run() async throws {
        let client = try options.client()
        let jobs = try await ClientFailure.call { try client.get("\(APIVersion.prefix)/jobs", as: [JobView].self) }
        if options.json { return try Output.json(jobs) }
        let rows = jobs.map { (j: JobView) -> [String] in
            let layout = "\(j.worldSize) (\(j.data)×\(j.pipeline)×\(j.tensor))"
            let step = j.step.map { String($0) } ?? "-"
            let checkpoint = j.checkpoint.map { String($0) } ?? "-"
            let attempt = j.attempt.map { String($0) } ?? "-"
            return [j.id, j.state.rawValue, layout, step, checkpoint, attempt, String(j.restarts), Human.age(j.submittedAt),
                    j.reason ?? ""]
        }
        print(Output.table(["JOB", "STATE", "RANKS (D×P×T)", "STEP", "CKPT", "ATTEMPT", "RESTARTS", "AGE", "REASON"], rows))
    }
}

/// `ringmaster status JOB`.
struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a job: state, attempts, ranks, progress, checkpoint.")

    @Argument(help: "Job id (from `ringmaster jobs`).")
    var job: String

    @Option(help: "How many of the newest attempt's ranks to show (the controller's default is 256).")
    var ranks: Int?

    @OptionGroup var options: ClientOptions

    func validate() throws {
        if let ranks, !(0...65_536).contains(ranks) { throw ValidationError("--ranks \(ranks): give 0…65536 ranks") }
    }

    func run() async throws {
        let client = try options.client()
        let query = ranks.map { "?ranks=\($0)" } ?? ""
        let d = try await ClientFailure.call { [job] in try client.get("\(APIVersion.prefix)/jobs/\(job)\(query)", as: JobDetail.self) }
        if options.json { return try Output.json(d) }
        let j = d.job
        print("job \(j.id): \(j.state.rawValue)" + (j.reason.map { " — \($0)" } ?? ""))
        print("  command    \(j.command.joined(separator: " "))")
        print("  layout     \(j.worldSize) ranks: data \(j.data) × pipeline \(j.pipeline) × tensor \(j.tensor)")
        print("  submitted  \(Human.time(j.submittedAt)) UTC; updated \(Human.time(j.updatedAt)) UTC")
        print("  progress   step \(j.step.map(String.init) ?? "-"), newest checkpoint \(j.checkpoint.map(String.init) ?? "none"), "
            + "\(j.attempt ?? 0) attempt(s), \(j.restarts) restart(s)"
            + (j.goodput.map { String(format: ", goodput %.1f%%", $0 * 100) } ?? ""))
        if let folder = j.checkpointDir { print("  checkpoints \(folder)") }
        // The loss at a glance; a controller without series (older, or none reported yet) shows nothing.
        if let loss = try? await ClientFailure.quiet({ [job] in
            try client.get("\(APIVersion.prefix)/jobs/\(job)/series?metric=loss&points=200", as: SeriesView.self)
        }), let first = loss.points.first, let last = loss.points.last {
            print("  loss       \(Sparkline.render(loss.points.map(\.value), width: 40)) "
                + String(format: "%.4g → %.4g", first.value, last.value)
                + " (step \(first.step.map(String.init) ?? "-") → \(last.step.map(String.init) ?? "-"))")
        }
        if !d.attempts.isEmpty {
            print("")
            print(Output.table(["ATTEMPT", "STATE", "STARTED", "ENDED", "RESUME", "NODES", "END REASON"], d.attempts.map { a in
                [String(a.number), a.state.rawValue, Human.time(a.startedAt), a.endedAt.map(Human.time) ?? "-",
                 a.resumeStep.map { "step \($0)" } ?? "fresh", a.nodes.joined(separator: ","), a.endReason ?? ""]
            }))
        }
        if !d.ranks.isEmpty {
            print("")
            print(Output.table(["RANK", "NODE", "LOCAL", "TP", "PP", "DP", "STATE", "PID", "STEP", "EXIT"], d.ranks.map { r in
                [String(r.rank), r.node, String(r.localRank), String(r.tp), String(r.pp), String(r.dp), r.state.rawValue,
                 r.pid.map(String.init) ?? "-", r.lastStep.map(String.init) ?? "-",
                 r.exitSignal.map { "signal \($0)" } ?? r.exitStatus.map { "status \($0)" } ?? "-"]
            }))
            if d.rankCount > d.ranks.count {
                print("… and \(d.rankCount - d.ranks.count) more ranks (ringmaster status \(j.id) --ranks \(d.rankCount) shows them all)")
            }
        }
    }
}

/// `ringmaster cancel JOB`.
struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Cancel a job: its ranks get SIGTERM (SIGKILL after the grace period); returns once they are gone.")

    @Argument(help: "Job id.")
    var job: String

    @OptionGroup var options: ClientOptions

    func run() async throws {
        let client = try options.client(timeout: 120)
        let j = try await ClientFailure.call { [job] in
            try client.post("\(APIVersion.prefix)/jobs/\(job)/cancel", body: [String: String](), as: JobView.self)
        }
        if options.json { return try Output.json(j) }
        print("\(j.id) \(j.state.rawValue)")
    }
}

/// `ringmaster logs JOB [--rank R] [-f]`.
struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a job's rank output (the newest attempt's, or --attempt N); -f follows it while the attempt runs.")

    @Argument(help: "Job id.")
    var job: String

    @Option(name: .long, help: "Only this rank's lines (without the [rank R] prefix).")
    var rank: Int?

    @Option(name: .long, help: "Lines from the end of each rank's log to start with.")
    var tail: Int = 100

    @Option(name: .long, help: "Attempt number (default: the newest).")
    var attempt: Int?

    @Flag(name: [.short, .customLong("follow")], help: "Keep printing new lines until the attempt ends.")
    var follow = false

    @OptionGroup var options: ClientOptions

    func run() async throws {
        let client = try options.client()
        var query = "tail=\(tail)&follow=\(follow ? 1 : 0)"
        if let rank { query += "&rank=\(rank)" }
        if let attempt { query += "&attempt=\(attempt)" }
        let path = "\(APIVersion.prefix)/jobs/\(job)/logs?\(query)"
        try await ClientFailure.call {
            try client.stream(path) { line in
                Output.line(line)
                return true
            }
        }
    }
}

/// `ringmaster events [-f] [--job J]`.
struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the controller's events (node and job state changes, attempts, ranks, checkpoints) with times.")

    @Option(name: .long, help: "Only this job's events.")
    var job: String?

    @Option(name: .long, help: "Start after this event id.")
    var after: Int64 = 0

    @Flag(name: [.short, .customLong("follow")], help: "Keep printing events as they happen (with --job: until the job ends).")
    var follow = false

    @OptionGroup var options: ClientOptions

    func run() async throws {
        let client = try options.client()
        let untilFinal = job != nil
        var q = "after=\(after)"
        if let job { q += "&job=\(job)" }
        let query = q
        let json = options.json
        if follow {
            try await ClientFailure.call {
                try client.stream("\(APIVersion.prefix)/events?\(query)&follow=1") { line in
                    let e = try? APICoding.decoder().decode(EventView.self, from: Data(line.utf8))
                    if json { Output.line(line) } else if let e { Output.line(Human.event(e)) }
                    return !(untilFinal && (e?.jobStateTo?.isFinal ?? false))
                }
            }
            return
        }
        let events = try await ClientFailure.call {
            try client.get("\(APIVersion.prefix)/events?\(query)&limit=10000", as: [EventView].self)
        }
        if json { return try Output.json(events) }
        for e in events { print(Human.event(e)) }
    }
}
