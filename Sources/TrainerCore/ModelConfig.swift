/// Size of the reference decoder-only language model.
public struct ModelConfig: Codable, Hashable, Sendable {
    public var vocab: Int
    public var dModel: Int
    public var heads: Int
    public var layers: Int
    public var seqLen: Int
    /// MLP hidden width = dModel × mlpRatio.
    public var mlpRatio: Int

    public init(vocab: Int, dModel: Int, heads: Int, layers: Int, seqLen: Int, mlpRatio: Int = 4) {
        self.vocab = vocab
        self.dModel = dModel
        self.heads = heads
        self.layers = layers
        self.seqLen = seqLen
        self.mlpRatio = mlpRatio
    }

    /// Fits the demo: 8 ranks, ~200 steps in well under 2 minutes on 2 cores (release build).
    public static let tiny = ModelConfig(vocab: 64, dModel: 64, heads: 4, layers: 4, seqLen: 32)
    public static let small = ModelConfig(vocab: 128, dModel: 128, heads: 8, layers: 8, seqLen: 64)
    /// For tests of the process machinery: milliseconds per step even in a debug build.
    public static let micro = ModelConfig(vocab: 16, dModel: 16, heads: 2, layers: 2, seqLen: 8)

    public static func preset(_ name: String) -> ModelConfig? {
        switch name {
        case "tiny": return .tiny
        case "small": return .small
        case "micro": return .micro
        default: return nil
        }
    }

    public var headDim: Int { dModel / heads }
    public var mlpDim: Int { dModel * mlpRatio }
}
