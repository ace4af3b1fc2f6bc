/// One line a rank sends to `RINGMASTER_CONTROL`: `step N`, `checkpoint N`, `metric NAME VALUE`.
public enum RankReport: Hashable, Sendable {
    case step(Int)
    case checkpoint(Int)
    case metric(name: String, value: Double)

    /// Parses one report line (surrounding whitespace ignored); nil when malformed.
    public init?(line: some StringProtocol) {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
        guard let verb = words.first else { return nil }
        switch verb {
        case "step":
            guard words.count == 2, let n = Int(words[1]), n >= 0 else { return nil }
            self = .step(n)
        case "checkpoint":
            guard words.count == 2, let n = Int(words[1]), n >= 0 else { return nil }
            self = .checkpoint(n)
        case "metric":
            guard words.count == 3, let v = Double(words[2]), v.isFinite else { return nil }
            let name = String(words[1])
            guard name.count <= 128, name.allSatisfy({ $0.isLetter || $0.isNumber || "_-./:".contains($0) })
            else { return nil }
            self = .metric(name: name, value: v)
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
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.allSatisfy({ $0 == " " || $0 == "\r" || $0 == "\t" }) { continue }
            if let r = RankReport(line: line) { reports.append(r) } else { malformed += 1 }
        }
        if reports.isEmpty, malformed == 0 { malformed = 1 }
        return (reports, malformed)
    }
}
