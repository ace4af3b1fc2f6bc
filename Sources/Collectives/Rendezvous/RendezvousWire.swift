/// The rendezvous protocol, one connection per join, lines of text:
///
///     → RMJOIN 1 attempt=<n> rank=<r> world=<w> host=<h|-> port=<p> timeoutms=<t> token=<token>
///     ← OK <w>            followed by w lines "<rank> <host> <port>"
///     ← REFUSED <reason>
///     ← MISSING <attempt> <r1,r2,…>
///
/// Both sides' readings of these lines are here, apart from the sockets, so that the fuzzer and the tests
/// reach the code the server and the joining ranks run.
package enum RendezvousWire {
    package static func requestLine(_ r: JoinRequest, timeoutMilliseconds: Int) -> String {
        "RMJOIN 1 attempt=\(r.attempt) rank=\(r.rank) world=\(r.worldSize) host=\(r.host.isEmpty ? "-" : r.host) port=\(r.port) timeoutms=\(timeoutMilliseconds) token=\(r.token)\n"
    }

    package static func parseRequest(_ line: String) -> (JoinRequest, timeoutMilliseconds: Int)? {
        let parts = line.split(separator: " ")
        guard parts.count == 9, parts[0] == "RMJOIN", parts[1] == "1" else { return nil }
        var f: [String: String] = [:]
        for p in parts.dropFirst(2) {
            guard let eq = p.firstIndex(of: "=") else { return nil }
            f[String(p[..<eq])] = String(p[p.index(after: eq)...])
        }
        guard let a = f["attempt"].flatMap(Int.init), let r = f["rank"].flatMap(Int.init),
              let w = f["world"].flatMap(Int.init), let h = f["host"], let p = f["port"].flatMap(UInt16.init),
              let t = f["timeoutms"].flatMap(Int.init), let tok = f["token"]
        else { return nil }
        return (JoinRequest(attempt: a, token: tok, rank: r, worldSize: w, host: h == "-" ? "" : h, port: p), t)
    }

    /// The longest wait a join may ask for: what `Deadline.pollTimeout` caps a rank's timeout to (about 12 days).
    package static let maxWaitMilliseconds = 1 << 30

    /// The server's reading of a join line received at `now`: the request, and until when its join waits.
    /// The wait is what the line asks, at most `maxWaitMilliseconds`: the line is read before its token is
    /// checked, and a larger `timeoutms=` overflowed the deadline's arithmetic and crashed the controller
    /// (found by fuzz-rendezvous).
    package static func serverRequest(_ line: String, now: Deadline) -> (JoinRequest, deadline: Deadline)? {
        guard let (request, timeoutMs) = parseRequest(line) else { return nil }
        let wait = UInt64(min(max(0, timeoutMs), maxWaitMilliseconds))
        return (request, Deadline(nanoseconds: now.nanoseconds + wait * 1_000_000))
    }

    package static func answer(_ result: Result<[PeerAddress], CollectiveError>) -> String {
        switch result {
        case .success(let table):
            return "OK \(table.count)\n" + table.map { "\($0.rank) \($0.host) \($0.port)\n" }.joined()
        case .failure(.joinTimedOut(let missing, let attempt)):
            return "MISSING \(attempt) \(missing.map(String.init).joined(separator: ","))\n"
        case .failure(.refused(let why)):
            return "REFUSED \(why)\n"
        case .failure(let other):
            return "REFUSED \(other)\n"
        }
    }

    /// The joining rank's reading of the answer's first line: how many address lines follow, or why the
    /// join failed.
    package static func answerHead(_ head: String, request r: JoinRequest) -> Result<Int, CollectiveError> {
        if head.hasPrefix("REFUSED ") { return .failure(.refused(String(head.dropFirst(8)))) }
        if head.hasPrefix("MISSING ") {
            let parts = head.split(separator: " ")
            let attempt = parts.count > 1 ? Int(parts[1]) ?? r.attempt : r.attempt
            let missing = parts.count > 2 ? parts[2].split(separator: ",").compactMap { Int($0) } : []
            return .failure(.joinTimedOut(missingRanks: missing, attempt: attempt))
        }
        guard head.hasPrefix("OK "), let n = Int(head.dropFirst(3)), n == r.worldSize else {
            return .failure(.refused("unexpected rendezvous answer '\(head)'"))
        }
        return .success(n)
    }

    /// One line of the address table, "<rank> <host> <port>"; nil when malformed.
    package static func address(_ line: String) -> PeerAddress? {
        let parts = line.split(separator: " ")
        guard parts.count == 3, let rank = Int(parts[0]), let port = UInt16(parts[2]) else { return nil }
        return PeerAddress(rank: rank, host: String(parts[1]), port: port)
    }
}
