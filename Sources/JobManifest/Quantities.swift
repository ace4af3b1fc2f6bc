/// Parsing of the manifest's human-friendly quantities: durations, counts and byte sizes.
public enum Quantities {
    /// `500ms`, `30s`, `1.5s`, `5m`, `2h`. A bare number is refused: the unit is not obvious.
    public static func duration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (unit, scale) in units where text.hasSuffix(unit) {
            let number = String(text.dropLast(unit.count))
            // "5ms" also ends in "s": only accept when the rest is a plain number.
            guard let value = plainNumber(number), value >= 0 else { continue }
            let ms = (value * scale * 1000).rounded()
            return .milliseconds(Int64(ms))
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
