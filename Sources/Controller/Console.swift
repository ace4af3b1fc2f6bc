import ControllerAPI
import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// The console's logins and sessions, in memory (a controller restart signs everyone out).
///
/// `ringmaster console` asks the API (bearer token) for a one-time code and prints the URL
/// `/console/login?code=…`; opening it exchanges the code, once and within its lifetime, for a session
/// cookie (HttpOnly, SameSite=Strict) and redirects to `/`, so neither the token nor the code stays in
/// the address bar. The session reads the console's own mirror of the API under `/console/api/`;
/// `/v1/…` stays bearer-only.
public final class ConsoleSessions: Sendable {
    struct State {
        var codes: [String: Date] = [:]
        var sessions: [String: Date] = [:]
    }

    private let state = Mutex(State())
    let codeLifetime: TimeInterval
    let sessionLifetime: TimeInterval
    let now: @Sendable () -> Date

    public init(codeLifetime: TimeInterval = 600, sessionLifetime: TimeInterval = 12 * 3600,
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.codeLifetime = codeLifetime
        self.sessionLifetime = sessionLifetime
        self.now = now
    }

    /// A new one-time code and when it expires.
    public func issueCode() -> (code: String, expiresAt: Date) {
        let code = Self.random()
        let expiry = now() + codeLifetime
        state.withLock { s in
            s.codes = s.codes.filter { $0.value > now() }
            s.codes[code] = expiry
        }
        return (code, expiry)
    }

    /// A session for a code that is known and unexpired; the code is spent either way.
    public func redeem(_ code: String) -> String? {
        let at = now()
        return state.withLock { s -> String? in
            guard let expiry = s.codes.removeValue(forKey: code), expiry > at else { return nil }
            let session = Self.random()
            s.sessions = s.sessions.filter { $0.value > at }
            s.sessions[session] = at + sessionLifetime
            return session
        }
    }

    public func isValid(_ session: String) -> Bool {
        let at = now()
        return state.withLock { s in
            // Constant-time over the candidates: the comparison never stops at the first differing byte.
            var found = false
            for (id, expiry) in s.sessions where expiry > at {
                if BearerTokenMiddleware<BasicRequestContext>.equal(Array(id.utf8), Array(session.utf8)) { found = true }
            }
            return found
        }
    }

    public func end(_ session: String) { state.withLock { _ = $0.sessions.removeValue(forKey: session) } }

    /// 256 random bits as 64 hex digits.
    static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(format: "%016llx", generator.next() as UInt64) }.joined()
    }

    /// The session cookie's name: per port, since browsers keep cookies per host (whatever the port) and
    /// two controllers on one host would otherwise sign each other's console out.
    public static func cookieName(port: Int?) -> String { "ringmaster_session_\(port ?? 0)" }
}

/// Who may call what: `/healthz` and the console's page, assets and login are open (they hold no data
/// and act on nothing); `/console/api/…` needs the session cookie, and anything but GET there also the
/// console's own header and a same-origin request (a cross-site page can send neither: SameSite=Strict
/// keeps the cookie off its requests, and the custom header needs a CORS preflight the controller never
/// grants); every other route needs the bearer token, and cookies count for nothing there.
struct AccessMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String
    let sessions: ConsoleSessions
    let port: @Sendable () -> Int?

    static var consoleHeader: HTTPField.Name { HTTPField.Name("X-Ringmaster-Console")! }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let path = request.uri.path
        if path == "/healthz" || path == "/" || path == "/favicon.ico" || path == "/console/login" || path.hasPrefix("/console/assets/") {
            return ConsoleRoutes.secured(try await next(request, context))
        }
        if path.hasPrefix("/console/") {
            guard let session = request.cookies[ConsoleSessions.cookieName(port: port())]?.value, sessions.isValid(session) else {
                return ConsoleRoutes.secured(JSONBody.response(
                    APIErrorBody(error: "unauthorized: no console session",
                                 hint: "run `ringmaster console` and open the one-time URL it prints"), status: .unauthorized))
            }
            if request.method != .get && request.method != .head {
                let site = request.headers[HTTPField.Name("Sec-Fetch-Site")!]
                let origin = request.headers[.origin]
                let host = request.head.authority ?? ""
                let sameOrigin = (site == nil || site == "same-origin") && (origin == nil || origin == "http://\(host)")
                guard request.headers[Self.consoleHeader] == "1", sameOrigin else {
                    return ConsoleRoutes.secured(JSONBody.response(
                        APIErrorBody(error: "forbidden: not a same-origin console request",
                                     hint: "the console's actions are sent by its own page only"), status: .forbidden))
                }
            }
            return ConsoleRoutes.secured(try await next(request, context))
        }
        return try await BearerTokenMiddleware<Context>(token: token).handle(request, context: context, next: next)
    }
}

/// The console's page, assets and login exchange. The page and its script are package resources
/// (`Sources/Controller/Resources/console`), read once.
struct ConsoleRoutes: Sendable {
    let sessions: ConsoleSessions
    let port: @Sendable () -> Int?
    let assets: ConsoleAssets

    func register(on router: Router<BasicRequestContext>) {
        router.get("/") { request, _ in
            let signedIn = request.cookies[ConsoleSessions.cookieName(port: port())].map { sessions.isValid($0.value) } ?? false
            guard signedIn else { return html(assets.file("signin.html"), status: .unauthorized) }
            return html(assets.file("index.html"))
        }
        router.get("/console/login") { request, _ in
            let code = request.uri.queryParameters.get("code").map { String($0) } ?? ""
            guard !code.isEmpty, let session = sessions.redeem(code) else {
                return html(assets.file("expired.html"), status: .unauthorized)
            }
            var headers = HTTPFields()
            headers[.location] = "/"
            headers[.setCookie] = "\(ConsoleSessions.cookieName(port: port()))=\(session); Path=/; HttpOnly; SameSite=Strict; "
                + "Max-Age=\(Int(sessions.sessionLifetime))"
            return Response(status: .seeOther, headers: headers)
        }
        router.post("/console/logout") { request, _ in
            if let session = request.cookies[ConsoleSessions.cookieName(port: port())]?.value { sessions.end(session) }
            var headers = HTTPFields()
            headers[.setCookie] = "\(ConsoleSessions.cookieName(port: port()))=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
            return Response(status: .noContent, headers: headers)
        }
        router.get("/favicon.ico") { _, _ in
            Response(status: .ok, headers: [.contentType: "image/svg+xml"],
                     body: ResponseBody(byteBuffer: ByteBuffer(bytes: assets.file("favicon.svg"))))
        }
        router.get("/console/assets/:file") { _, context in
            let name = try context.parameters.require("file")
            guard let (data, type) = assets.asset(name) else {
                throw APIError(.notFound, "no console asset \(name)", hint: "the console's page loads its own assets")
            }
            return Response(status: .ok, headers: [.contentType: type], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        }
    }

    func html(_ data: Data, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Headers on every console response: no framing, no sniffing, no referrer, no caching, and a content
    /// security policy allowing only the controller's own script, styles and connections.
    static func secured(_ response: Response) -> Response {
        var response = response
        response.headers[HTTPField.Name("Content-Security-Policy")!] =
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            + "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        response.headers[.cacheControl] = "no-store"
        return response
    }
}

/// The console's files from the package's resources, read at start-up.
struct ConsoleAssets: Sendable {
    let files: [String: Data]

    static let types = ["html": "text/html; charset=utf-8", "css": "text/css; charset=utf-8",
                        "js": "text/javascript; charset=utf-8", "svg": "image/svg+xml", "png": "image/png"]

    static func load() -> ConsoleAssets {
        var files: [String: Data] = [:]
        if let dir = ControllerResources.directory?.appendingPathComponent("console"),
           let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) {
            for name in names { files[name] = FileManager.default.contents(atPath: dir.appendingPathComponent(name).path) }
        }
        return ConsoleAssets(files: files)
    }

    func file(_ name: String) -> Data {
        files[name] ?? Data("<!doctype html><title>Ringmaster</title><p>The console's files are missing from this build.</p>".utf8)
    }

    /// An asset the page loads (not its HTML pages), with its content type.
    func asset(_ name: String) -> (Data, String)? {
        guard !name.hasSuffix(".html"), let data = files[name],
              let type = Self.types[String(name.split(separator: ".").last ?? "")] else { return nil }
        return (data, type)
    }
}

/// Where the Controller module's resources are: the SwiftPM bundle beside the executable (what `swift build`
/// leaves), else the sources' own folder (a build whose bundle was not copied along). Looked up here rather
/// than through `Bundle.module`, which traps when the bundle is missing: a controller without its console
/// files still serves the API.
enum ControllerResources {
    static let directory: URL? = {
        let bundle = "ringmaster_Controller.resources"
        var candidates = [Bundle.main.bundleURL.appendingPathComponent(bundle)]
        if let executable = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            candidates.append(executable.deletingLastPathComponent().appendingPathComponent(bundle))
        }
        candidates.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Resources"))
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("openapi.json").path) }
    }()

    /// The OpenAPI document (`Sources/Controller/Resources/openapi.json`).
    static let openAPI: Data = {
        directory.flatMap { FileManager.default.contents(atPath: $0.appendingPathComponent("openapi.json").path) }
            ?? Data("{}".utf8)
    }()
}

/// Every error answer in the API's shape (`APIErrorBody`, JSON), also for what the router and the HTTP
/// layer throw themselves (an unknown path, a body too large); a path the OpenAPI document knows, asked
/// with a method it does not list, is 405 with `Allow` (the document is the route table's source of truth:
/// `OpenAPIRoutes`).
struct ErrorBodyMiddleware<Context: RequestContext>: RouterMiddleware {
    let routes: OpenAPIRoutes

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            let path = request.uri.path
            if error.status == .notFound, let allowed = routes.methods(for: path), !allowed.contains(request.method.rawValue) {
                var response = JSONBody.response(
                    APIErrorBody(error: "\(request.method.rawValue) is not a method of \(path)",
                                 hint: "it takes \(allowed.sorted().joined(separator: ", "))"), status: .methodNotAllowed)
                response.headers[.allow] = allowed.sorted().joined(separator: ", ")
                return response
            }
            let what = error.status == .notFound ? "no route \(path)" : (error.body ?? error.status.reasonPhrase)
            var response = JSONBody.response(
                APIErrorBody(error: what, hint: error.status == .notFound ? "GET /v1/openapi.json lists every route" : nil),
                status: error.status)
            for field in error.headers where field.name != .contentType && field.name != .contentLength {
                response.headers.append(field)
            }
            return response
        }
    }
}

/// The routes of the OpenAPI document: path templates (`/v1/jobs/{id}`) and their methods.
struct OpenAPIRoutes: Sendable {
    let routes: [(segments: [String], methods: Set<String>)]

    init(document: Data) {
        var routes: [([String], Set<String>)] = []
        if let object = try? JSONSerialization.jsonObject(with: document) as? [String: Any],
           let paths = object["paths"] as? [String: Any] {
            for (path, item) in paths {
                guard let item = item as? [String: Any] else { continue }
                var methods = Set(item.keys.map { $0.uppercased() }.filter { ["GET", "POST", "PUT", "DELETE", "PATCH"].contains($0) })
                if methods.contains("GET") { methods.insert("HEAD") }
                routes.append((Self.segments(path), methods))
            }
        }
        self.routes = routes
    }

    static func segments(_ path: String) -> [String] { path.split(separator: "/", omittingEmptySubsequences: true).map(String.init) }

    /// The methods of the first template matching `path`; nil when none does.
    func methods(for path: String) -> Set<String>? {
        let parts = Self.segments(path)
        for r in routes where r.segments.count == parts.count {
            if zip(r.segments, parts).allSatisfy({ $0.hasPrefix("{") || $0 == $1 }) { return r.methods }
        }
        return nil
    }
}
