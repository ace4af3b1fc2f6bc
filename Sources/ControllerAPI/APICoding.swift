import Foundation

/// JSON on the wire: sorted keys, ISO 8601 times with milliseconds in UTC.
public enum APICoding {
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(string(from: date))
        }
        return e
    }

    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { decoder in
            let c = try decoder.singleValueContainer()
            let text = try c.decode(String.self)
            guard let date = date(from: text) else {
                throw DecodingError.dataCorruptedError(in: c, debugDescription: "not an ISO 8601 time: \(text)")
            }
            return date
        }
        return d
    }

    /// The API's text for a time: UTC, rounded to the millisecond (`2026-12-01T19:10:29.207Z`).
    ///
    /// Swift's own ISO 8601 format style (no ICU: an `ISO8601DateFormatter` took milliseconds to make, and
    /// one was made per time, so `GET /v1/jobs` spent seconds on a thousand jobs' times), for the whole
    /// seconds; the milliseconds are rounded here (the style truncates, and a stored `.207` read back as
    /// `.20699…` would print `.206`).
    public static func string(from date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var (seconds, fraction) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        if fraction < 0 { (seconds, fraction) = (seconds - 1, fraction + 1000) }  // before 1970
        let whole = Date.ISO8601FormatStyle().format(Date(timeIntervalSince1970: Double(seconds)))  // "…:29Z"
        let digits = String(fraction)
        return whole.dropLast() + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }

    /// An ISO 8601 time with a UTC offset (`Z`, `+01:00`) and fractional seconds → the date, rounded to the
    /// millisecond (what `string(from:)` wrote reads back equal); nil when the text is not one.
    public static func date(from text: String) -> Date? {
        guard let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) else { return nil }
        return Date(timeIntervalSince1970: Double(Int64((date.timeIntervalSince1970 * 1000).rounded())) / 1000)
    }
}

