import ControllerAPI
import Foundation
import Testing

/// The API's times: ISO 8601 in UTC with milliseconds, written and read without making an ICU formatter
/// per time (that cost milliseconds each: `GET /v1/jobs` on a thousand jobs spent seconds on it).
@Suite struct APITimeTests {
    /// The text ICU's `ISO8601DateFormatter` wrote before, for times the store holds (whole milliseconds).
    @Test func timesAreWrittenAsTheICUFormatterWroteThemAndReadBackEqual() throws {
        let icu = ISO8601DateFormatter()
        icu.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var random = SystemRandomNumberGenerator()
        let milliseconds: [Int64] = [0, 1, 999, 1000, 1_700_000_061_731, 1_764_616_229_207, 4_102_444_799_999]
            + (0..<300).map { _ in Int64.random(in: 0...4_102_444_800_000, using: &random) }
        for ms in milliseconds {
            let date = Date(timeIntervalSince1970: Double(ms) / 1000)
            let text = APICoding.string(from: date)
            #expect(text == icu.string(from: date), "\(ms) ms")
            #expect(APICoding.date(from: text) == date, "\(text)")
        }
        #expect(APICoding.string(from: Date(timeIntervalSince1970: -0.001)) == "1969-12-31T23:59:59.999Z")
        // Sub-millisecond parts round to the nearest millisecond.
        #expect(APICoding.string(from: Date(timeIntervalSince1970: 1.2346)) == "1970-01-01T00:00:01.235Z")
    }

    @Test func anyOffsetAndFractionIsReadAndOtherTextIsNot() throws {
        let utc = try #require(APICoding.date(from: "2026-12-01T19:10:29.207Z"))
        #expect(APICoding.date(from: "2026-12-01T20:10:29.207+01:00") == utc)
        #expect(APICoding.date(from: "2026-12-01T19:10:29.2Z") == APICoding.date(from: "2026-12-01T19:10:29.200Z"))
        for bad in ["2026-12-01 19:10:29.207Z", "yesterday", ""] { #expect(APICoding.date(from: bad) == nil, "\(bad)") }
        // Through the decoder, as the CLI reads the API.
        struct Row: Codable, Equatable { var at: Date }
        let json = try APICoding.encoder().encode(Row(at: utc))
        #expect(String(decoding: json, as: UTF8.self) == #"{"at":"2026-12-01T19:10:29.207Z"}"#)
        #expect(try APICoding.decoder().decode(Row.self, from: json) == Row(at: utc))
    }
}
