import Collectives
import FuzzSupport

/// The collectives frame header: the first 32 bytes of the input as a header arriving on a data connection
/// (`FrameHeader.decode`, and `HeaderCheck.of`, the check every receive runs), against the frame the receiver
/// expects: the header in the next 32 bytes when there are that many, else a ring all-reduce chunk's. A
/// header decodes to what encodes back to its bytes, and a peer's frame of the expected operation and size
/// is accepted.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Fuzzer.bytes(data, size)
    guard bytes.count >= FrameHeader.size else { return 0 }
    let arrived = Array(bytes.prefix(FrameHeader.size))
    let expected = bytes.count >= 2 * FrameHeader.size
        ? decode(Array(bytes[FrameHeader.size..<2 * FrameHeader.size]))
        : FrameHeader(kind: .allReduce, dataType: .float32, reduceOp: .sum, sequence: 7, count: 1 << 20, payloadBytes: 1 << 16)
    guard let expected else { return 0 }
    let check = arrived.withUnsafeBytes {
        HeaderCheck.of($0.baseAddress!, expected: expected, length: Int(expected.payloadBytes), peer: 1,
                       operation: "allReduce #7 of group world")
    }
    guard let header = decode(arrived) else {
        guard case .mismatch = check else { fatalError("bytes that are not a header were taken as \(check)") }
        return 0
    }
    Fuzzer.require(encode(header) == arrived, "header \(header) does not encode back to its bytes")
    _ = header.signature
    if header.kind == OpKind.abort.rawValue {
        Fuzzer.require(check == .abort(header), "an abort frame was taken as \(check)")
    } else if header.sameOperation(as: expected) && header.payloadBytes == expected.payloadBytes {
        Fuzzer.require(check == .expected, "the expected frame was refused: \(check)")
    } else {
        guard case .mismatch = check else { fatalError("a frame of another operation was taken as \(check)") }
    }
    return 0
}

func decode(_ bytes: [UInt8]) -> FrameHeader? {
    bytes.withUnsafeBytes { FrameHeader.decode($0.baseAddress!) }
}

func encode(_ header: FrameHeader) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: FrameHeader.size)
    bytes.withUnsafeMutableBytes { header.encode(into: $0.baseAddress!) }
    return bytes
}
