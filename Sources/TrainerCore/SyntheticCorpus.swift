import RingmasterModel

/// A deterministic corpus with learnable structure: sequences walk a sparse Markov chain in which each
/// token is followed by one of three successors with probabilities 0.7, 0.2 and 0.1. Sample `id` is a
/// pure function of (seed, id), so any sample can be regenerated anywhere. The best possible loss is
/// the chain's entropy, about 0.80 nats, against ln(vocab) for a model that learned nothing.
public struct SyntheticCorpus: Sendable {
    public let vocab: Int
    public let seqLen: Int
    let successors: [[Int]]
    let seed: UInt64

    public init(seed: UInt64, vocab: Int, seqLen: Int) {
        self.vocab = vocab
        self.seqLen = seqLen
        self.seed = seed
        var rng = SplitMix64(seed: seed ^ 0x5EED_C0DE)
        successors = (0..<vocab).map { _ in (0..<3).map { _ in Int(rng.next() % UInt64(vocab)) } }
    }

    /// Inputs and next-token targets of sample `id` (seqLen each).
    public func sample(_ id: UInt64) -> (inputs: [Int], targets: [Int]) {
        var rng = SplitMix64(seed: seed &+ id &* 0x9E37_79B9_7F4A_7C15)
        var tokens = [Int(rng.next() % UInt64(vocab))]
        for _ in 0..<seqLen {
            let u = rng.next() % 10
            let choice = u < 7 ? 0 : (u < 9 ? 1 : 2)
            tokens.append(successors[tokens.last!][choice])
        }
        return (Array(tokens[0..<seqLen]), Array(tokens[1...seqLen]))
    }
}

/// Draws the sample ids of each global batch from its own generator; `cursor` (samples consumed) and
/// the generator state are exactly what a checkpoint needs to continue without skipping or repeating.
public struct DataLoader: Sendable {
    public var rng: SplitMix64
    /// Global sample cursor: samples handed out so far.
    public var cursor: UInt64
    public let corpusSize: UInt64

    public init(seed: UInt64, corpusSize: UInt64 = 1 << 32) {
        rng = SplitMix64(seed: seed ^ 0x10AD_E500)
        cursor = 0
        self.corpusSize = corpusSize
    }

    public mutating func nextBatch(_ size: Int) -> [UInt64] {
        cursor += UInt64(size)
        return (0..<size).map { _ in rng.next() % corpusSize }
    }
}
