/// The first line on every data connection, connector → acceptor:
///
///     RMHELLO 1 attempt=<n> from=<world rank> to=<world rank> group=<name> token=<token>
///
/// answered by `OK` or `REFUSED <reason>`. The token is the attempt's secret; the attempt
/// number lets a straggler of an older attempt be told exactly that. Pure parsing/validation.
package struct Handshake: Equatable, Sendable {
    package var attempt: Int
    package var from: Int
    package var to: Int
    package var group: String
    package var token: String

    package var line: String {
        "RMHELLO 1 attempt=\(attempt) from=\(from) to=\(to) group=\(group) token=\(token)\n"
    }

    package static func parse(_ line: String) -> Handshake? {
        let parts = line.split(separator: " ")
        guard parts.count == 7, parts[0] == "RMHELLO", parts[1] == "1" else { return nil }
        var fields: [String: String] = [:]
        for p in parts.dropFirst(2) {
            guard let eq = p.firstIndex(of: "=") else { return nil }
            fields[String(p[..<eq])] = String(p[p.index(after: eq)...])
        }
        guard let a = fields["attempt"].flatMap(Int.init), let f = fields["from"].flatMap(Int.init),
              let t = fields["to"].flatMap(Int.init), let g = fields["group"], let tok = fields["token"]
        else { return nil }
        return Handshake(attempt: a, from: f, to: t, group: g, token: tok)
    }

    /// Why the acceptor (rank `me` of attempt `attempt` with `token`, world of `worldSize`)
    /// must refuse this connection, or nil to accept it.
    package func refusal(me: Int, worldSize: Int, attempt expectedAttempt: Int, token expectedToken: String) -> String? {
        if attempt < expectedAttempt {
            return "connection from attempt \(attempt) refused: this group belongs to attempt \(expectedAttempt). The connecting process is a straggler of an older attempt and should be stopped."
        }
        if attempt != expectedAttempt || !Handshake.constantTimeEqual(token, expectedToken) {
            return "connection refused: wrong token for attempt \(expectedAttempt). The connecting process was not launched for this attempt; check its RINGMASTER_TOKEN."
        }
        if to != me { return "connection for rank \(to) reached rank \(me): the address table is stale" }
        if from < 0 || from >= worldSize || from == me { return "connection from invalid rank \(from)" }
        return nil
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<x.count { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}
