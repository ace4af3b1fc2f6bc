/// Element-wise reduction of an all-reduce or reduce-scatter.
///
/// `avg` sums, then divides each element once by the group size (integer division,
/// truncating toward zero, for the integer types).
public enum ReduceOp: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case sum = 1, avg = 2, min = 3, max = 4

    public var description: String {
        switch self {
        case .sum: "sum"
        case .avg: "avg"
        case .min: "min"
        case .max: "max"
        }
    }
}
