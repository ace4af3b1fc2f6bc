extension Duration {
    /// Seconds as a floating-point number.
    public var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }

    /// Manifest form: `500ms`, `30s`, `5m`, `2h`, choosing the largest unit that is exact.
    public var manifestText: String {
        let ms = Int64((seconds * 1000).rounded())
        if ms % 3_600_000 == 0, ms != 0 { return "\(ms / 3_600_000)h" }
        if ms % 60_000 == 0, ms != 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }
}

extension Duration {
    /// `500ms`, `30s`, `1.5s`, `5m`, `2h`: a non-negative number and a unit, for command lines outside the
    /// manifest reader (a simulated rank's options); nil otherwise.
    public init?(commandLineText text: String) {
        for (unit, scale) in [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)] where text.hasSuffix(unit) {
            guard let value = Double(text.dropLast(unit.count)), value.isFinite, value >= 0, value * scale <= 3.6e9 else { continue }
            self = .milliseconds(Int64((value * scale * 1000).rounded()))
            return
        }
        return nil
    }
}
