import Foundation
import RingmasterModel
import Testing

/// `Double.fixed` stands in for `String(format: "%.Nf")` in the modules the static agent links.
@Suite struct FixedPointTests {
    @Test func roundsHalfAwayFromZeroWithTheDigitsAsked() {
        #expect(1.2346.fixed(3) == "1.235")
        #expect(0.5.fixed(0) == "1")
        #expect((-2.5).fixed(0) == "-3")
        #expect(0.0004.fixed(3) == "0.000")
        #expect((-0.0004).fixed(3) == "0.000")  // no "-0.000"
        #expect(12.0.fixed(1) == "12.0")
        #expect(3.14159.fixed(2) == "3.14")
        #expect(1234567.891.fixed(1) == "1234567.9")
    }

    @Test func whatItCannotWriteExactlyIsWrittenAsSwiftWouldNotDropped() {
        #expect(Double.infinity.fixed(3) == "inf")
        #expect(Double.nan.fixed(3) == "nan")
        #expect(1e300.fixed(2) == "\(1e300)")
    }

    @Test func anInstantPrintsItsMonotonicSeconds() {
        #expect(Instant(monotonic: .milliseconds(1500), wall: Date(timeIntervalSince1970: 0)).description == "1.500 s")
    }
}
