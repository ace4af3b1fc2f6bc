/// One line a rank sends to `RINGMASTER_CONTROL`: `step N`, `checkpoint N`, `checkpoint-failed N REASON`
/// (this rank could not write its shard of step N, e.g. a full disk: the step is never committed),
/// `metric NAME VALUE`, `section NAME SECONDS` (the rank will be silent up to SECONDS: an evaluation, a
/// long save), `section end` and `held N DIGEST` (the rank abandoned its step for an in-process rejoin and
/// holds the state after step N; DIGEST is 1 to 64 hex digits).
public enum RankReport: Hashable, Sendable {
    case step(Int)
    case checkpoint(Int)
    case checkpointFailed(Int, reason: String)
    case metric(name: String, value: Double)
    case section(name: String, seconds: Double)
    case sectionEnd
    case held(Int, digest: String)

    /// The longest reason of a `checkpoint-failed` report kept (characters).
    public static let maxReason = 1024

    /// The longest section a rank may announce: a week.
    public static let maxSectionSeconds: Double = 7 * 24 * 3600

    static func isName(_ name: some StringProtocol) -> Bool {
        name.count <= 128 && name.allSatisfy({ $0.isLetter || $0.isNumber || "_-./:".contains($0) })
    }

    /// Parses one report line (surrounding whitespace ignored); nil when malformed.
    public init?(line: some StringProtocol) {
        // Split by scalars, not characters: "\r\n" is one character, so a line ending in it would keep
        // "\r\n" on its last word (found by fuzz-rank-reports).
        let words = String(line).unicodeScalars.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
            .map(Substring.init)
        guard let verb = words.first else { return nil }
        switch verb {
        case "step":
            guard words.count == 2, let n = Int(words[1]), n >= 0 else { return nil }
            self = .step(n)
        case "checkpoint":
            guard words.count == 2, let n = Int(words[1]), n >= 0 else { return nil }
            self = .checkpoint(n)
        case "checkpoint-failed":
            guard words.count >= 2, let n = Int(words[1]), n >= 0 else { return nil }
            let reason = words.dropFirst(2).joined(separator: " ")
            self = .checkpointFailed(n, reason: reason.isEmpty ? "no reason given" : String(reason.prefix(Self.maxReason)))
        case "metric":
            guard words.count == 3, let v = Double(words[2]), v.isFinite else { return nil }
            guard Self.isName(words[1]) else { return nil }
            self = .metric(name: String(words[1]), value: v)
        case "held":
            guard words.count == 3, let n = Int(words[1]), n >= 0, (1...64).contains(words[2].count),
                  words[2].allSatisfy({ $0.isHexDigit })
            else { return nil }
            self = .held(n, digest: String(words[2]))
        case "section":
            if words.count == 2, words[1] == "end" {
                self = .sectionEnd
                return
            }
            guard words.count == 3, Self.isName(words[1]), let seconds = Double(words[2]), seconds.isFinite, seconds > 0,
                  seconds <= Self.maxSectionSeconds
            else { return nil }
            self = .section(name: String(words[1]), seconds: seconds)
        default:
            return nil
        }
    }

    /// Parses a datagram: one report per line. Returns the reports and the count of malformed lines.
    public static func parseDatagram(_ bytes: some Collection<UInt8>) -> (reports: [RankReport], malformed: Int) {
        guard bytes.count <= 4096 else { return ([], 1) }
        let text = String(decoding: bytes, as: UTF8.self)
        var reports: [RankReport] = []
        var malformed = 0
        // Lines end at the newline scalar, also when "\r" comes before it (a String split keeps "\r\n" whole).
        for line in text.unicodeScalars.split(separator: "\n").map(Substring.init) {
            if line.allSatisfy({ $0 == " " || $0 == "\r" || $0 == "\t" }) { continue }
            if let r = RankReport(line: line) { reports.append(r) } else { malformed += 1 }
        }
        if reports.isEmpty, malformed == 0 { malformed = 1 }
        return (reports, malformed)
    }
}
