import Foundation

/// The CLI's view of the HTTP API: one blocking request per call, bearer token on each. Run it on a
/// thread of its own.
public struct ControllerClient: Sendable {
    public var url: String
    public var token: String?
    public var timeoutSeconds: Double
    let host: String
    let port: Int

    public init(url: String, token: String?, timeoutSeconds: Double = 30) throws {
        guard let parsed = URLComponents(string: url), parsed.scheme == "http", let host = parsed.host,
              !host.isEmpty
        else { throw ControllerConnectionError.badURL(url) }
        self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.token = token
        self.timeoutSeconds = timeoutSeconds
        self.host = host
        self.port = parsed.port ?? 80
    }

    /// A non-2xx answer: the status and the API's error body.
    public struct Failure: Error, CustomStringConvertible {
        public var status: Int
        public var body: APIErrorBody
        public var description: String { body.description }
    }

    /// Sends a request and returns the whole body of a 2xx answer; throws `Failure` otherwise.
    public func call(_ method: String, _ path: String, body: Data? = nil) throws -> Data {
        let (connection, head) = try open(method, path, body: body, follow: false)
        var data = Data()
        try connection.readBody(head) { bytes in
            data.append(contentsOf: bytes)
            return true
        }
        try check(head, data)
        return data
    }

    public func get<T: Decodable>(_ path: String, as: T.Type) throws -> T {
        try decode(T.self, try call("GET", path))
    }

    public func post<T: Decodable>(_ path: String, body: some Encodable, as: T.Type) throws -> T {
        try decode(T.self, try call("POST", path, body: try APICoding.encoder().encode(body)))
    }

    /// Streams a response line by line (events, logs); `line` returns false to stop.
    public func stream(_ path: String, line: (String) throws -> Bool) throws {
        let (connection, head) = try open("GET", path, body: nil, follow: true)
        guard (200..<300).contains(head.status) else {
            var data = Data()
            try connection.readBody(head) { data.append(contentsOf: $0); return true }
            try check(head, data)
            return
        }
        var pending: [UInt8] = []
        var stopped = false
        try connection.readBody(head) { bytes in
            pending.append(contentsOf: bytes)
            while let i = pending.firstIndex(of: 10) {
                let text = String(decoding: pending[0..<i], as: UTF8.self)
                pending.removeFirst(i + 1)
                guard try line(text) else {
                    stopped = true
                    return false
                }
            }
            return true
        }
        // A last line without its newline, when the stream ended (not when the reader stopped: what follows
        // the line it stopped at may be half a line).
        if !stopped, !pending.isEmpty { _ = try line(String(decoding: pending, as: UTF8.self)) }
    }

    private func open(_ method: String, _ path: String, body: Data?, follow: Bool) throws -> (HTTPConnection, HTTPHead) {
        let connection = try HTTPConnection(host: host, port: port, url: url, timeoutSeconds: timeoutSeconds)
        var request = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n"
            + "Accept: application/json\r\nUser-Agent: ringmaster-cli\r\n"
        if let token { request += "Authorization: Bearer \(token)\r\n" }
        if let body { request += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        else if method != "GET" { request += "Content-Length: 0\r\n" }
        request += "\r\n"
        try connection.send(Array(request.utf8) + (body.map { Array($0) } ?? []))
        let head = try connection.readHead()
        if follow { connection.waitForever() }
        return (connection, head)
    }

    private func check(_ head: HTTPHead, _ data: Data) throws {
        guard !(200..<300).contains(head.status) else { return }
        if let body = try? APICoding.decoder().decode(APIErrorBody.self, from: data) {
            throw Failure(status: head.status, body: body)
        }
        let text = String(decoding: data, as: UTF8.self)
        throw Failure(status: head.status, body: APIErrorBody(error: "HTTP \(head.status)" + (text.isEmpty ? "" : ": \(text)")))
    }

    private func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws -> T {
        do { return try APICoding.decoder().decode(T.self, from: data) } catch {
            throw ControllerConnectionError.protocolError("cannot read \(T.self): \(error)")
        }
    }
}
