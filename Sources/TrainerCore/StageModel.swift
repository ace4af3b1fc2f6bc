/// The layers one pipeline stage holds: the embeddings on the first stage, a contiguous run of blocks,
/// and the final layer norm, LM head and loss on the last stage.
public final class StageModel {
    public let config: ModelConfig
    public let params: ParameterSet
    let stage: Int
    let stages: Int
    let blocks: [Block]
    let tokenEmbedding, positionEmbedding: Parameter?
    let lnfg, lnfb, head, headBias: Parameter?

    public var isFirst: Bool { stage == 0 }
    public var isLast: Bool { stage == stages - 1 }

    /// Activation cache of one micro-batch.
    struct Cache {
        var tokens: [Int]
        var blockCaches: [Block.Cache]
        var lnfInput: [Float]
        var lnf: [Float]
        var lnfCache: LayerNorm.Cache?
        var batch: Int
    }

    public init(config: ModelConfig, seed: UInt64, stage: Int, stages: Int, tensor: any Communicator) {
        self.config = config
        self.stage = stage
        self.stages = stages
        let params = ParameterSet(seed: seed, tp: tensor.rank, tpSize: tensor.size)
        self.params = params
        let d = config.dModel, v = config.vocab
        // Layers are split as evenly as possible; earlier stages take the remainder.
        let per = config.layers / stages, extra = config.layers % stages
        let first = stage * per + min(stage, extra)
        let count = per + (stage < extra ? 1 : 0)
        if stage == 0 {
            tokenEmbedding = params.add("embed.token", count: v * d, scale: 0.5)
            positionEmbedding = params.add("embed.position", count: config.seqLen * d, scale: 0.1)
        } else {
            tokenEmbedding = nil
            positionEmbedding = nil
        }
        blocks = (first..<(first + count)).map { Block(index: $0, config: config, params: params, tensor: tensor) }
        if stage == stages - 1 {
            lnfg = params.add("final.ln.g", count: d, constant: 1)
            lnfb = params.add("final.ln.b", count: d, constant: 0)
            head = params.add("head.w", count: d * v, scale: 1 / Float(d).squareRoot())
            headBias = params.add("head.b", count: v, constant: 0)
        } else {
            lnfg = nil
            lnfb = nil
            head = nil
            headBias = nil
        }
    }

    public var activationCount: Int { config.seqLen * config.dModel }

    /// First stage: embeds `tokens`; others: takes `input` from the previous stage. Returns this stage's output.
    func forward(tokens: [Int], input: [Float]?, batch: Int) throws -> ([Float], Cache) {
        let d = config.dModel, t = config.seqLen
        var x: [Float]
        if let tokenEmbedding, let positionEmbedding {
            x = [Float](repeating: 0, count: batch * t * d)
            for r in 0..<(batch * t) {
                let tok = tokens[r], pos = r % t
                for j in 0..<d { x[r * d + j] = tokenEmbedding.value[tok * d + j] + positionEmbedding.value[pos * d + j] }
            }
        } else {
            x = input!
        }
        var caches: [Block.Cache] = []
        for block in blocks {
            let (y, c) = try block.forward(x, batch: batch)
            caches.append(c)
            x = y
        }
        var cache = Cache(tokens: tokens, blockCaches: caches, lnfInput: x, lnf: [], lnfCache: nil, batch: batch)
        if let lnfg, let lnfb, let head, let headBias {
            let (lnf, lc) = LayerNorm.forward(x, g: lnfg.value, b: lnfb.value, rows: batch * t, dim: d)
            cache.lnf = lnf
            cache.lnfCache = lc
            return (linear(lnf, head.value, headBias.value, rows: batch * t, inDim: d, outDim: config.vocab), cache)
        }
        return (x, cache)
    }

    /// Last stage: `dOut` is d(loss)/d(logits); others: the gradient from the next stage.
    /// Returns the gradient for the previous stage (nil on the first stage). `finished` receives each
    /// group of parameters as soon as this pass has added its last gradient to them (head, each block
    /// from the last, embeddings).
    func backward(_ dOut: [Float], cache: Cache, finished: ([Parameter]) -> Void = { _ in }) throws -> [Float]? {
        let d = config.dModel, n = cache.batch * config.seqLen
        var dx = dOut
        if let lnfg, let lnfb, let head, let headBias, let lc = cache.lnfCache {
            addColumnSums(dOut, into: &headBias.grad, rows: n, cols: config.vocab)
            let dlnf = linearBackward(dOut, cache.lnf, head.value, dW: &head.grad, rows: n, inDim: d,
                                      outDim: config.vocab)
            dx = LayerNorm.backward(dlnf, cache: lc, g: lnfg.value, dg: &lnfg.grad, db: &lnfb.grad, rows: n, dim: d)
            finished([lnfg, lnfb, head, headBias])
        }
        for (block, c) in zip(blocks, cache.blockCaches).reversed() {
            dx = try block.backward(dx, cache: c)
            finished(block.parameters)
        }
        if let tokenEmbedding, let positionEmbedding {
            for r in 0..<n {
                let tok = cache.tokens[r], pos = r % config.seqLen
                for j in 0..<d {
                    tokenEmbedding.grad[tok * d + j] += dx[r * d + j]
                    positionEmbedding.grad[pos * d + j] += dx[r * d + j]
                }
            }
            finished([tokenEmbedding, positionEmbedding])
            return nil
        }
        return dx
    }
}
