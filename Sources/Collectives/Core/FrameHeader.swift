/// What a frame belongs to. Collective frames carry the group's operation sequence number;
/// point-to-point frames carry a per-peer sequence number.
public enum OpKind: UInt8, Sendable, CustomStringConvertible {
    case allReduce = 1, reduceScatter = 2, allGather = 3, broadcast = 4, send = 5, barrier = 6
    /// "This rank's operation failed with …": sent to every connected peer so nobody hangs.
    case abort = 255

    public var description: String {
        switch self {
        case .allReduce: "allReduce"
        case .reduceScatter: "reduceScatter"
        case .allGather: "allGather"
        case .broadcast: "broadcast"
        case .send: "send/recv"
        case .barrier: "barrier"
        case .abort: "abort"
        }
    }
}

/// The 32-byte header in front of every payload on a data connection (little-endian).
///
///     0 magic "RMC1" · 4 kind · 5 dtype · 6 reduce op · 7 algorithm
///     8 sequence number (u64) · 16 element count of the whole operation (u64)
///     24 payload bytes of this frame (u32) · 28 aux (u32: broadcast root; abort: rank)
///
/// A receiver compares every field but `payloadBytes`/`aux` semantics with what its own call
/// expects; any difference is a `mismatch`, never a silent misinterpretation.
public struct FrameHeader: Sendable, Equatable {
    public static let size = 32
    public static let magic: UInt32 = 0x3143_4D52  // "RMC1" little-endian

    public var kind: UInt8
    public var dataType: UInt8
    public var reduceOp: UInt8
    public var algorithm: UInt8
    public var sequence: UInt64
    public var count: UInt64
    public var payloadBytes: UInt32
    public var aux: UInt32

    public init(kind: OpKind, dataType: DataType?, reduceOp: ReduceOp?, algorithm: UInt8 = 0,
                sequence: UInt64, count: UInt64, payloadBytes: UInt32, aux: UInt32 = 0) {
        self.kind = kind.rawValue
        self.dataType = dataType?.rawValue ?? 0
        self.reduceOp = reduceOp?.rawValue ?? 0
        self.algorithm = algorithm
        self.sequence = sequence
        self.count = count
        self.payloadBytes = payloadBytes
        self.aux = aux
    }

    public func encode(into p: UnsafeMutableRawPointer) {
        p.storeBytes(of: Self.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
        p.storeBytes(of: kind, toByteOffset: 4, as: UInt8.self)
        p.storeBytes(of: dataType, toByteOffset: 5, as: UInt8.self)
        p.storeBytes(of: reduceOp, toByteOffset: 6, as: UInt8.self)
        p.storeBytes(of: algorithm, toByteOffset: 7, as: UInt8.self)
        p.storeBytes(of: sequence.littleEndian, toByteOffset: 8, as: UInt64.self)
        p.storeBytes(of: count.littleEndian, toByteOffset: 16, as: UInt64.self)
        p.storeBytes(of: payloadBytes.littleEndian, toByteOffset: 24, as: UInt32.self)
        p.storeBytes(of: aux.littleEndian, toByteOffset: 28, as: UInt32.self)
    }

    /// Decodes a header; nil when the magic is wrong (not a Ringmaster data stream).
    public static func decode(_ p: UnsafeRawPointer) -> FrameHeader? {
        guard UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) == magic else { return nil }
        var h = FrameHeader(kind: .barrier, dataType: nil, reduceOp: nil, sequence: 0, count: 0, payloadBytes: 0)
        h.kind = p.load(fromByteOffset: 4, as: UInt8.self)
        h.dataType = p.load(fromByteOffset: 5, as: UInt8.self)
        h.reduceOp = p.load(fromByteOffset: 6, as: UInt8.self)
        h.algorithm = p.load(fromByteOffset: 7, as: UInt8.self)
        h.sequence = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        h.count = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
        h.payloadBytes = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 24, as: UInt32.self))
        h.aux = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 28, as: UInt32.self))
        return h
    }

    /// Human-readable operation signature, for mismatch messages.
    public var signature: String {
        let k = OpKind(rawValue: kind)?.description ?? "kind \(kind)"
        let t = DataType(rawValue: dataType)?.description ?? "-"
        let o = ReduceOp(rawValue: reduceOp)?.description ?? "-"
        return "\(k) #\(sequence) (\(count) × \(t), op \(o), algorithm \(algorithm), root/aux \(aux))"
    }

    /// Whether `other` (what arrived) belongs to the same operation as `self` (what was expected).
    public func sameOperation(as other: FrameHeader) -> Bool {
        kind == other.kind && dataType == other.dataType && reduceOp == other.reduceOp
            && algorithm == other.algorithm && sequence == other.sequence && count == other.count
            && aux == other.aux
    }
}
