/// What a receiver makes of the 32 bytes where it expects the header of a frame: the frame it waits
/// for, a peer's abort (its reason follows), or a mismatch that fails the operation. Apart from the
/// socket, so that the fuzzer and the tests reach the check every receive runs.
package enum HeaderCheck: Equatable, Sendable {
    case expected
    case abort(FrameHeader)
    case mismatch(String)

    /// `raw` holds `FrameHeader.size` bytes from `peer` (a global rank), read where `expected` with
    /// `length` payload bytes is due. `operation` names the operation in messages; it is built only
    /// when one is needed (formatting costs more than a small operation).
    package static func of(_ raw: UnsafeRawPointer, expected: FrameHeader, length: Int, peer: Int,
                           operation: @autoclosure () -> String) -> HeaderCheck {
        guard let got = FrameHeader.decode(raw) else {
            return .mismatch("rank \(peer) sent bytes that are not a frame header during \(operation()) (stream out of step)")
        }
        if got.kind == OpKind.abort.rawValue { return .abort(got) }
        guard got.sameOperation(as: expected) else {
            return .mismatch("this rank called \(expected.signature) but rank \(peer) called \(got.signature)")
        }
        guard Int(got.payloadBytes) == length else {
            return .mismatch("during \(expected.signature) rank \(peer) sent a \(got.payloadBytes)-byte frame where \(length) bytes were expected")
        }
        return .expected
    }
}
