/// Element types the collectives move and reduce.
public enum DataType: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case float32 = 1, float64 = 2, float16 = 3, bfloat16 = 4, int32 = 5, int64 = 6

    public var size: Int {
        switch self {
        case .float32, .int32: 4
        case .float64, .int64: 8
        case .float16, .bfloat16: 2
        }
    }

    public var description: String {
        switch self {
        case .float32: "float32"
        case .float64: "float64"
        case .float16: "float16"
        case .bfloat16: "bfloat16"
        case .int32: "int32"
        case .int64: "int64"
        }
    }

    public init?(name: String) {
        guard let t = DataType.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
        self = t
    }
}

/// A Swift type that can be reduced by the collectives (`Float`, `Double`, `Float16`,
/// `BFloat16`, `Int32`, `Int64`).
public protocol CollectiveElement: BitwiseCopyable, Sendable, Equatable {
    static var dataType: DataType { get }
}

extension Float: CollectiveElement { public static var dataType: DataType { .float32 } }
extension Double: CollectiveElement { public static var dataType: DataType { .float64 } }
extension Float16: CollectiveElement { public static var dataType: DataType { .float16 } }
extension BFloat16: CollectiveElement { public static var dataType: DataType { .bfloat16 } }
extension Int32: CollectiveElement { public static var dataType: DataType { .int32 } }
extension Int64: CollectiveElement { public static var dataType: DataType { .int64 } }
