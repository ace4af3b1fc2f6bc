import ControllerAPI
import Foundation
import Hummingbird
import StateStore

/// An API failure: its HTTP status and the `APIErrorBody` every client reads.
struct APIError: HTTPResponseError {
    var status: HTTPResponse.Status
    var body: APIErrorBody

    init(_ status: HTTPResponse.Status, _ error: String, details: [String] = [], hint: String? = nil) {
        self.status = status
        body = APIErrorBody(error: error, details: details, hint: hint)
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONBody.response(body, status: status)
    }
}

/// JSON responses in the API's coding.
enum JSONBody {
    static func response(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        response(json: (try? APICoding.encoder().encode(value)) ?? Data("{}".utf8), status: status)
    }

    /// A body already encoded.
    static func response(json data: Data, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: data + Data("\n".utf8))))
    }
}

/// `Authorization: Bearer <token>` on every route but `/healthz`; compared in constant time.
struct BearerTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        if request.uri.path == "/healthz" { return try await next(request, context) }
        let header = request.headers[.authorization] ?? ""
        let given = header.hasPrefix("Bearer ") ? String(header.dropFirst(7)) : ""
        guard Self.equal(Array(given.utf8), Array(token.utf8)) else {
            let why = header.isEmpty ? "missing bearer token" : "wrong bearer token"
            return JSONBody.response(
                APIErrorBody(error: "unauthorized: \(why)",
                             hint: "send `Authorization: Bearer` with the token in the controller's state directory "
                                + "(api-token); the CLI reads it from --state-dir or $RINGMASTER_TOKEN"),
                status: .unauthorized)
        }
        return try await next(request, context)
    }

    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in a.indices { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}

/// A request whose write the state database cannot take now (its filesystem is full, another process holds
/// its lock) is answered 507 or 503 with the store's words — which file, and what to do — instead of a bare
/// 500. Nothing was stored; the same request can be sent again.
struct StoreErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as StoreError where error.isTransient {
            throw APIError(for: error)
        }
    }
}

extension APIError {
    init(for error: StoreError) {
        switch error {
        case .diskFull:
            self.init(HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage"), "\(error)",
                      hint: "nothing was stored: send the request again once the state directory's filesystem has room")
        default:
            self.init(.serviceUnavailable, "\(error)", hint: "nothing was stored: send the request again once the database can be written")
        }
    }
}
