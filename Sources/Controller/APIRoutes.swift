import ControllerAPI
import Foundation
import Hummingbird
import JobManifest
import NodeManager
import Planning
import RingmasterModel
import StateStore

/// The HTTP API's routes (documented in the README, "HTTP API"). Handlers validate, call the runner
/// or read the store, and answer JSON; errors are `APIErrorBody` with a status.
struct APIRoutes: Sendable {
    let runner: JobRunner
    let events: EventFeed
    let metrics: ControllerMetrics
    let info: @Sendable () -> ControllerInfo
    let sessions: ConsoleSessions
    /// `/nodes` encodes only the nodes that changed since the last answer.
    let nodeViews = EncodedViewCache<NodeView>()
    /// Largest request body accepted (a manifest is a few KiB).
    static let maxBody = 1 << 20
    /// The most ranks one page of `/jobs/{id}/ranks` (or the detail's `?ranks=`) holds: the largest job's.
    static let maxRankPage = 65_536

    var store: RingmasterStore { runner.store }

    func register(on router: Router<BasicRequestContext>) {
        router.get("/healthz") { _, _ in JSONBody.response(info()) }
        router.get("/metrics") { _, _ in
            let text = try await OffPool.run { metrics.render(store: store) }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        let v1 = router.group(RouterPath(APIVersion.prefix))
        reads(on: v1)
        // The console's mirror of the read routes, for its session cookie (AccessMiddleware): the same
        // handlers and answers, never the bearer API itself.
        reads(on: router.group(RouterPath("/console/api" + APIVersion.prefix)))
        v1.get("/openapi.json") { _, _ in
            // The document names this controller as its server, and the session cookie by this port.
            let url = info().url
            let port = URLComponents(string: url)?.port.map(String.init) ?? "7460"
            let text = String(decoding: ControllerResources.openAPI, as: UTF8.self)
                .replacingOccurrences(of: "\"http://127.0.0.1:7460\"", with: "\"\(url)\"")
                .replacingOccurrences(of: "ringmaster_session_7460", with: "ringmaster_session_\(port)")
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        }
        v1.post("/jobs") { request, _ in try await submit(request) }
        v1.post("/jobs/:id/cancel") { _, context in
            let id = try await job(context).id
            switch await runner.cancel(id) {
            case .success(let view): return JSONBody.response(view)
            case .failure(let body): return JSONBody.response(body, status: .conflict)
            }
        }
        v1.post("/nodes/:id/release") { _, context in try await release(context) }
        router.post("/console/api\(APIVersion.prefix)/nodes/:id/release") { _, context in try await release(context) }
        v1.post("/jobs/:id/chaos") { request, context in
            let id = try await job(context).id
            var request = request
            let buffer: ByteBuffer
            do { buffer = try await request.collectBody(upTo: 64 * 1024) } catch {
                throw APIError(.contentTooLarge, "request body larger than 64 KiB", hint: "send one chaos request")
            }
            let chaos: ChaosRequest
            do { chaos = try ChaosRequest(body: buffer.readableBytesView) } catch {
                throw APIError(.badRequest, "not a chaos request: \(error)",
                               hint: #"send {"action": "kill-rank|hang-rank|kill-node|stop-agent", "rank": R, "node": "N"}"#)
            }
            switch await runner.chaos(id, chaos) {
            case .success(let report): return JSONBody.response(report)
            case .failure(let body): return JSONBody.response(body, status: .conflict)
            }
        }
        v1.post("/console/login") { _, _ in
            let (code, expiry) = sessions.issueCode()
            return JSONBody.response(ConsoleLogin(url: info().url + "/console/login?code=" + code, expiresAt: expiry),
                                     status: .created)
        }
    }

    /// The routes that only read: under `/v1` (bearer) and under `/console/api/v1` (console session).
    func reads<R: RouterMethods>(on group: R) where R.Context == BasicRequestContext {
        group.get("/jobs") { _, _ in try await OffPool.run { JSONBody.response(try Views.jobs(runner: runner)) } }
        group.get("/jobs/:id") { request, context in
            let (id, q) = (try context.parameters.require("id"), QueryParameters(request))
            let ranks = try q.int("ranks", in: 0...Self.maxRankPage, "a rank count") ?? Views.detailRanks
            return try await OffPool.run { JSONBody.response(try Views.detail(try job(id), runner: runner, ranks: ranks)) }
        }
        group.get("/jobs/:id/ranks") { request, context in
            let (id, q) = (try context.parameters.require("id"), QueryParameters(request))
            let offset = try q.int("offset", in: 0...Int(Int32.max), "a rank") ?? 0
            let limit = try q.int("limit", in: 1...Self.maxRankPage, "a rank count")
            return try await OffPool.run {
                JSONBody.response(try Views.ranks(of: try job(id), runner: runner, offset: offset, limit: limit))
            }
        }
        group.get("/jobs/:id/logs") { request, context in
            let (id, q) = (try context.parameters.require("id"), QueryParameters(request))
            return try await OffPool.run { try logs(q, try job(id)) }
        }
        group.get("/jobs/:id/series") { request, context in
            let (id, q) = (try context.parameters.require("id"), QueryParameters(request))
            return try await OffPool.run { JSONBody.response(try series(q, try job(id))) }
        }
        group.get("/nodes") { _, _ in
            try await OffPool.run {
                let views = try Views.nodes(store: store, manager: runner.nodes, busy: runner.busyRanks(), host: runner.options.nodeHost)
                return JSONBody.response(json: try nodeViews.array(views, key: \.id))
            }
        }
        group.get("/events") { request, _ in try await eventsResponse(request) }
        group.get("/failures") { request, _ in
            let q = QueryParameters(request)
            return try await OffPool.run { JSONBody.response(try failures(q)) }
        }
    }

    private func release(_ context: BasicRequestContext) async throws -> Response {
        let id = try context.parameters.require("id")
        guard runner.nodes.status(of: NodeID(id)) != nil else {
            throw APIError(.notFound, "no node \(id)", hint: "`ringmaster nodes` lists the cluster's nodes")
        }
        switch await runner.release(NodeID(id)) {
        case .success(let text): return JSONBody.response(["released": id, "message": text])
        case .failure(let body): return JSONBody.response(body, status: .conflict)
        }
    }

    /// Every failure (or one job's) from the events, with the cluster's observed and planned MTBF.
    /// Blocking (the store): off the pool.
    func failures(_ q: QueryParameters) throws -> FailuresView {
        let only = q.string("job").map { JobID($0) }
        if let only, try store.job(only) == nil {
            throw APIError(.notFound, "no job \(only)", hint: "`ringmaster jobs` lists the jobs this controller knows")
        }
        let events = try store.events(kinds: Self.failureKinds, job: only)
        var attempts: [Int64: Int] = [:]
        for job in Set(events.compactMap(\.jobId)) {
            for a in try store.attempts(of: job) { if let id = a.id { attempts[id] = a.number } }
        }
        let list = FailureTimeline.failures(events, attempts: attempts)
        let accelerators = try store.nodes().filter { !$0.spare }.map { max(1, $0.accelerators.count) }.reduce(0, +)
        return FailureTimeline.summary(list, firstEvent: try store.events(after: 0, limit: 1).first?.time,
                                       now: runner.clock.now().wall, accelerators: accelerators)
    }

    static let failureKinds: Set<EventKind> = [.failureDetected, .recoveryTeardown, .recoveryDecision, .recoveryRelaunch,
                                               .recoveryComplete, .recoveryRejoin, .jobState]

    private func job(_ context: BasicRequestContext) async throws -> JobRecord {
        let id = try context.parameters.require("id")
        return try await OffPool.run { try job(id) }
    }

    /// The stored job, or 404. Blocking (a store read).
    private func job(_ id: String) throws -> JobRecord {
        guard let job = try store.job(JobID(id)) else {
            throw APIError(.notFound, "no job \(id)", hint: "`ringmaster jobs` lists the jobs this controller knows")
        }
        return job
    }

    private func submit(_ request: Request) async throws -> Response {
        var request = request
        let buffer: ByteBuffer
        do { buffer = try await request.collectBody(upTo: Self.maxBody) } catch {
            throw APIError(.contentTooLarge, "request body larger than \(Self.maxBody) bytes",
                           hint: "send the manifest's YAML text, not its data")
        }
        return try await OffPool.run { try accept(buffer) }
    }

    /// Validates and stores a submitted manifest. Blocking (parsing, the checkpoint folder, the store).
    private func accept(_ buffer: ByteBuffer) throws -> Response {
        let body: SubmitRequest
        do { body = try SubmitRequest(body: buffer.readableBytesView) } catch {
            throw APIError(.badRequest, "request body is not a submit request: \(error)",
                           hint: #"send {"manifest": "<YAML text>", "path": "<file it came from>"}"#)
        }
        let manifest: LoadedManifest<JobSpec>
        do { manifest = try JobManifestLoader.parse(body.manifest, file: body.path) } catch {
            throw APIError(.badRequest, "invalid job manifest \(body.path)", details: error.errors.map(\.description),
                           hint: "fix the fields named above and submit again")
        }
        if let problem = runner.neverFits(manifest.value) {
            throw APIError(.badRequest, "job \(manifest.value.name) can never run on this cluster",
                           details: [manifest.error(field: problem.field, message: problem.message,
                                                    hint: problem.hint).description])
        }
        let job: JobRecord
        do { job = try runner.submit(manifest) } catch let refused as ManifestErrors {
            throw APIError(.badRequest, "job \(manifest.value.name) refused: its checkpoints would not be its own",
                           details: refused.errors.map(\.description), hint: "fix the fields named above and submit again")
        }
        return JSONBody.response(Views.job(job, runner: runner), status: .created)
    }

    /// Blocking (the store): off the pool.
    func series(_ q: QueryParameters, _ job: JobRecord) throws -> SeriesView {
        let metric = q.string("metric") ?? "loss"
        guard !metric.isEmpty else {
            throw APIError(.badRequest, "query parameter metric= is empty", hint: "metric takes a metric name, e.g. loss")
        }
        let count = try q.int("points", in: 1...10_000, "a point count") ?? 500
        let points = SeriesDownsampling.downsample(try store.series(job: job.id, metric: metric), to: count)
        return SeriesView(
            job: job.id.rawValue, metric: metric, metrics: try store.seriesMetrics(job: job.id),
            width: try store.seriesWidth(job: job.id, metric: metric),
            points: points.map { SeriesPointView(step: $0.step, time: $0.time, value: $0.value, min: $0.min, max: $0.max, count: $0.count) })
    }

    /// Blocking (the store, the log files): off the pool.
    private func logs(_ q: QueryParameters, _ job: JobRecord) throws -> Response {
        let rank = try q.string("rank").map { text -> Int in
            guard let r = Int(text), r >= 0, r < job.spec.parallelism.worldSize else {
                throw APIError(.badRequest, "rank \(text) is not a rank of \(job.id)",
                               hint: "ranks are 0…\(job.spec.parallelism.worldSize - 1)")
            }
            return r
        }
        let tail = try q.int("tail", in: 0...Int.max, "a line count") ?? 100
        let follow = try q.bool("follow") ?? false
        let attempts = try store.attempts(of: job.id)
        let attempt = try q.int("attempt", in: 1...Int.max, "an attempt number") ?? attempts.last?.number ?? 1
        if !attempts.isEmpty, !attempts.contains(where: { $0.number == attempt }) {
            throw APIError(.notFound, "\(job.id) has no attempt \(attempt)", hint: "its attempts are 1…\(attempts.last!.number)")
        }
        let lines = runner.logs.lines(job: job.id, attempt: attempt, rank: rank, tail: tail, follow: follow)
        return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody { writer in
            for await line in lines { try await writer.write(ByteBuffer(string: line + "\n")) }
            try await writer.finish(nil)
        })
    }

    private func eventsResponse(_ request: Request) async throws -> Response {
        let q = QueryParameters(request)
        let after = try q.int("after", in: 0...Int64.max, "an event id") ?? 0
        let job = q.string("job").map { JobID($0) }
        let follow = try q.bool("follow") ?? false
        let limit = try q.int("limit", in: 1...10_000, "an event count") ?? 1000
        guard follow else {
            return try await OffPool.run { JSONBody.response(try store.events(after: after, job: job, limit: limit).map(Views.event)) }
        }
        let stream = events.follow(store: store, after: after, job: job)
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson"], body: ResponseBody { writer in
            for try await batch in stream {
                try await writer.write(try await OffPool.run {
                    let encoder = APICoding.encoder()
                    var buffer = ByteBuffer()
                    for e in batch {
                        buffer.writeBytes(try encoder.encode(Views.event(e)))
                        buffer.writeString("\n")
                    }
                    return buffer
                })
            }
            try await writer.finish(nil)
        })
    }
}
