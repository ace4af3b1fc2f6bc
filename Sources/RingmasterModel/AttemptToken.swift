/// The per-attempt secret ranks present to the rendezvous and to each other.
public struct AttemptToken: StringIdentifier {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// 256 random bits from the system's CSPRNG, hex-encoded.
    public static func generate() -> AttemptToken {
        var rng = SystemRandomNumberGenerator()
        return generate(using: &rng)
    }

    /// 256 bits drawn from `rng` (the runner's random source: the system's CSPRNG in production, a seeded
    /// generator in simulations), hex-encoded.
    public static func generate(using rng: inout some RandomNumberGenerator) -> AttemptToken {
        let hex = (0..<4).map { _ in
            let v = rng.next() as UInt64
            let s = String(v, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }
        return AttemptToken(rawValue: hex.joined())
    }
}
