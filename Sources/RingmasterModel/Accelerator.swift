/// One accelerator on a node, as discovered by the agent or simulated.
public struct Accelerator: Hashable, Codable, Sendable {
    /// Index the vendor's runtime uses (`CUDA_VISIBLE_DEVICES` takes these).
    public var index: Int
    /// Stable identity (NVIDIA UUID, PCI bus id, or a synthetic id for simulated devices).
    public var uuid: String
    /// Product name, e.g. "NVIDIA H100 80GB HBM3".
    public var name: String
    public var kind: AcceleratorKind
    /// Device memory in bytes, when known.
    public var memoryBytes: UInt64?

    public init(index: Int, uuid: String, name: String, kind: AcceleratorKind, memoryBytes: UInt64? = nil) {
        self.index = index
        self.uuid = uuid
        self.name = name
        self.kind = kind
        self.memoryBytes = memoryBytes
    }

    /// `count` simulated devices, used by local and test clusters.
    public static func simulated(count: Int, kind: AcceleratorKind = .simulated, node: String) -> [Accelerator] {
        (0..<count).map {
            Accelerator(index: $0, uuid: "sim-\(node)-\($0)", name: kind == .simulated ? "simulated accelerator" : "simulated \(kind.rawValue)", kind: kind)
        }
    }
}

/// The vendor family of an accelerator; decides which visibility variable a rank gets.
public struct AcceleratorKind: StringIdentifier {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let nvidia = AcceleratorKind(rawValue: "nvidia")
    public static let amd = AcceleratorKind(rawValue: "amd")
    public static let simulated = AcceleratorKind(rawValue: "simulated")

}
