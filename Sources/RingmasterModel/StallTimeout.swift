/// How long a rank that reported steps may go without one before it is hung: a fixed duration, or
/// `auto` (the default), derived from the job's own step intervals as it trains.
public enum StallTimeout: Hashable, Sendable, Codable, CustomStringConvertible {
    case auto
    case fixed(Duration)

    /// Manifest form: `auto`, `30s`.
    public var description: String {
        switch self {
        case .auto: "auto"
        case .fixed(let d): d.manifestText
        }
    }

    // `auto` is stored as the string; a fixed timeout as a `Duration`, as job rows stored before `auto`
    // existed hold it.
    public init(from decoder: any Decoder) throws {
        if let text = try? decoder.singleValueContainer().decode(String.self), text == "auto" {
            self = .auto
        } else {
            self = .fixed(try Duration(from: decoder))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .auto:
            var c = encoder.singleValueContainer()
            try c.encode("auto")
        case .fixed(let d): try d.encode(to: encoder)
        }
    }
}
