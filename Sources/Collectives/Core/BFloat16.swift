/// The brain floating-point format: the top 16 bits of a Float32 (8-bit exponent, 7-bit mantissa).
///
/// Arithmetic happens in Float32; converting back rounds to nearest, ties to even, and
/// keeps NaN a (quiet) NaN.
public struct BFloat16: Hashable, Sendable, BitwiseCopyable, CustomStringConvertible {
    public var bitPattern: UInt16

    public init(bitPattern: UInt16) { self.bitPattern = bitPattern }

    @inlinable
    public init(_ value: Float) {
        let bits = value.bitPattern
        if value.isNaN {
            bitPattern = UInt16(truncatingIfNeeded: bits >> 16) | 0x0040
        } else {
            // Round to nearest even: add 0x7FFF plus the lowest kept bit, then truncate.
            let rounding: UInt32 = 0x7FFF &+ ((bits >> 16) & 1)
            bitPattern = UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
        }
    }

    @inlinable
    public var floatValue: Float { Float(bitPattern: UInt32(bitPattern) << 16) }

    public var description: String { floatValue.description }

    public static func == (a: BFloat16, b: BFloat16) -> Bool {
        a.bitPattern == b.bitPattern
    }
}
