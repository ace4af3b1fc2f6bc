/// Parsing of the manifest's human-friendly quantities: durations, counts and byte sizes.
public enum Quantities {
    /// The longest duration a manifest may give: a million hours (about 114 years). Longer is a typo, and would
    /// overflow the 64-bit nanosecond arithmetic of timeouts and deadlines (and, past Int64 milliseconds, crashed
    /// the conversion: found by fuzz-job-manifest).
    public static let maxDuration: Duration = .seconds(maxDurationSeconds)
    static let maxDurationSeconds = 1_000_000 * 3600

    /// `500ms`, `30s`, `1.5s`, `5m`, `2h`, at most `maxDuration`. A bare number is refused: the unit is not obvious.
    public static func duration(_ text: String) -> Duration? {
        guard let seconds = seconds(text), seconds <= Double(maxDurationSeconds) else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// The seconds a duration's text means, however many; nil when it is not a number and a unit.
    static func seconds(_ text: String) -> Double? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (unit, scale) in units where text.hasSuffix(unit) {
            let number = String(text.dropLast(unit.count))
            // "5ms" also ends in "s": only accept when the rest is a plain number.
            guard let value = plainNumber(number), value >= 0 else { continue }
            return value * scale
        }
        return nil
    }

    /// `175e9`, `175B`, `1.5T`, `300_000_000`: K, M, B (or G), T are powers of 1000.
    static func count(_ text: String) -> Double? {
        let suffixes: [(String, Double)] = [("K", 1e3), ("M", 1e6), ("B", 1e9), ("G", 1e9), ("T", 1e12), ("P", 1e15)]
        for (suffix, scale) in suffixes where text.hasSuffix(suffix) {
            if let value = plainNumber(String(text.dropLast())) { return value * scale }
        }
        return plainNumber(text)
    }

    /// `80GiB`, `141GB`, `512MiB`, `1073741824`.
    static func bytes(_ text: String) -> Double? {
        let units: [(String, Double)] = [
            ("KiB", 1024), ("MiB", 1024 * 1024), ("GiB", 1024 * 1024 * 1024), ("TiB", 1024 * 1024 * 1024 * 1024),
            ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("B", 1),
        ]
        for (unit, scale) in units where text.hasSuffix(unit) {
            if let value = plainNumber(String(text.dropLast(unit.count))) { return value * scale }
        }
        return plainNumber(text)
    }

    /// A decimal number with optional exponent and `_` separators; no sign words, no hex.
    static func plainNumber(_ text: String) -> Double? {
        let cleaned = text.replacingOccurrences(of: "_", with: "")
        guard !cleaned.isEmpty, cleaned.allSatisfy({ "0123456789.eE+-".contains($0) }) else { return nil }
        guard let value = Double(cleaned), value.isFinite else { return nil }
        return value
    }
}
