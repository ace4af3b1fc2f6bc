extension Double {
    /// `digits` decimals, rounded half away from zero: `1.2345.fixed(3)` is `"1.235"`. Pure Swift (no
    /// `String(format:)`), so the modules the node agent links do not pull Foundation's locale support
    /// and ICU's data (34 MB) into its static build.
    public func fixed(_ digits: Int) -> String {
        guard isFinite else { return "\(self)" }
        let digits = Swift.max(0, Swift.min(digits, 15))
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (Swift.abs(self) * scale).rounded()
        guard scaled < 9.0e18 else { return "\(self)" }
        let units = UInt64(scaled), divisor = UInt64(scale)
        let sign = self < 0 && units != 0 ? "-" : ""
        guard digits > 0 else { return sign + "\(units)" }
        let fraction = String(units % divisor)
        return sign + "\(units / divisor)." + String(repeating: "0", count: digits - fraction.count) + fraction
    }
}
