/// The rendezvous protocol, one connection per join, lines of text:
///
///     → RMJOIN 1 attempt=<n> rank=<r> world=<w> host=<h|-> port=<p> timeoutms=<t> token=<token>
///     ← OK <w>            followed by w lines "<rank> <host> <port>"
///     ← REFUSED <reason>
///     ← MISSING <attempt> <r1,r2,…>
enum RendezvousWire {
    static func requestLine(_ r: JoinRequest, timeoutMilliseconds: Int) -> String {
        "RMJOIN 1 attempt=\(r.attempt) rank=\(r.rank) world=\(r.worldSize) host=\(r.host.isEmpty ? "-" : r.host) port=\(r.port) timeoutms=\(timeoutMilliseconds) token=\(r.token)\n"
    }

    static func parseRequest(_ line: String) -> (JoinRequest, timeoutMilliseconds: Int)? {
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

    static func answer(_ result: Result<[PeerAddress], CollectiveError>) -> String {
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
}
