/// One transformer block, tensor-parallel in the Megatron-LM way: q/k/v and the first MLP linear are
/// column-parallel (this rank holds heads/t heads and mlp/t columns), the attention output and second
/// MLP linear are row-parallel, followed by an all-reduce over the tensor group (forward); the inputs
/// of the column-parallel linears get an all-reduce of their gradient (backward). Layer norms and the
/// biases added after the all-reduce are replicated.
final class Block {
    let config: ModelConfig
    let tensor: any Communicator
    let ln1g, ln1b, wq, wk, wv, wo, bo, ln2g, ln2b, w1, b1, w2, b2: Parameter
    let localHeads: Int
    let localWidth: Int
    let localMLP: Int

    struct Cache {
        var x: [Float], ln1: [Float], ln1Cache: LayerNorm.Cache
        var q: [Float], k: [Float], v: [Float], probs: [Float], attn: [Float]
        var x2: [Float], ln2: [Float], ln2Cache: LayerNorm.Cache, h: [Float], a: [Float]
        var batch: Int
    }

    /// Every parameter of the block (a gradient bucket).
    var parameters: [Parameter] { [ln1g, ln1b, wq, wk, wv, wo, bo, ln2g, ln2b, w1, b1, w2, b2] }

    init(index: Int, config: ModelConfig, params: ParameterSet, tensor: any Communicator) {
        self.config = config
        self.tensor = tensor
        let d = config.dModel, f = config.mlpDim, t = tensor.size
        localHeads = config.heads / t
        localWidth = localHeads * config.headDim
        localMLP = f / t
        let s = "block.\(index)."
        let initScale = 1 / Float(d).squareRoot()
        ln1g = params.add(s + "ln1.g", count: d, constant: 1)
        ln1b = params.add(s + "ln1.b", count: d, constant: 0)
        wq = params.add(s + "attn.wq", count: d * d, shard: .columns(rows: d, cols: d), scale: initScale)
        wk = params.add(s + "attn.wk", count: d * d, shard: .columns(rows: d, cols: d), scale: initScale)
        wv = params.add(s + "attn.wv", count: d * d, shard: .columns(rows: d, cols: d), scale: initScale)
        wo = params.add(s + "attn.wo", count: d * d, shard: .rows(rows: d, cols: d), scale: initScale)
        bo = params.add(s + "attn.bo", count: d, constant: 0)
        ln2g = params.add(s + "ln2.g", count: d, constant: 1)
        ln2b = params.add(s + "ln2.b", count: d, constant: 0)
        w1 = params.add(s + "mlp.w1", count: d * f, shard: .columns(rows: d, cols: f), scale: initScale)
        b1 = params.add(s + "mlp.b1", count: f, shard: .columns(rows: 1, cols: f), constant: 0)
        w2 = params.add(s + "mlp.w2", count: f * d, shard: .rows(rows: f, cols: d), scale: 1 / Float(f).squareRoot())
        b2 = params.add(s + "mlp.b2", count: d, constant: 0)
    }

    func forward(_ x: [Float], batch: Int) throws -> ([Float], Cache) {
        let n = batch * config.seqLen, d = config.dModel
        let (ln1, c1) = LayerNorm.forward(x, g: ln1g.value, b: ln1b.value, rows: n, dim: d)
        let q = linear(ln1, wq.value, nil, rows: n, inDim: d, outDim: localWidth)
        let k = linear(ln1, wk.value, nil, rows: n, inDim: d, outDim: localWidth)
        let v = linear(ln1, wv.value, nil, rows: n, inDim: d, outDim: localWidth)
        let attention = CausalAttention(batch: batch, seq: config.seqLen, heads: localHeads, headDim: config.headDim)
        let (attn, probs) = attention.forward(q: q, k: k, v: v)
        var o = linear(attn, wo.value, nil, rows: n, inDim: localWidth, outDim: d)
        try tensor.allReduceSum(&o)
        var x2 = x
        for r in 0..<n { for j in 0..<d { x2[r * d + j] += o[r * d + j] + bo.value[j] } }
        let (ln2, c2) = LayerNorm.forward(x2, g: ln2g.value, b: ln2b.value, rows: n, dim: d)
        let h = linear(ln2, w1.value, b1.value, rows: n, inDim: d, outDim: localMLP)
        let a = GELU.forward(h)
        var y = linear(a, w2.value, nil, rows: n, inDim: localMLP, outDim: d)
        try tensor.allReduceSum(&y)
        var out = x2
        for r in 0..<n { for j in 0..<d { out[r * d + j] += y[r * d + j] + b2.value[j] } }
        let cache = Cache(x: x, ln1: ln1, ln1Cache: c1, q: q, k: k, v: v, probs: probs, attn: attn, x2: x2,
                          ln2: ln2, ln2Cache: c2, h: h, a: a, batch: batch)
        return (out, cache)
    }

    func backward(_ dOut: [Float], cache c: Cache) throws -> [Float] {
        let n = c.batch * config.seqLen, d = config.dModel
        // MLP: out = x2 + W2·gelu(W1·ln2 + b1) + b2
        addColumnSums(dOut, into: &b2.grad, rows: n, cols: d)
        let da = linearBackward(dOut, c.a, w2.value, dW: &w2.grad, rows: n, inDim: localMLP, outDim: d)
        let dh = GELU.backward(da, c.h)
        addColumnSums(dh, into: &b1.grad, rows: n, cols: localMLP)
        var dln2 = linearBackward(dh, c.ln2, w1.value, dW: &w1.grad, rows: n, inDim: d, outDim: localMLP)
        try tensor.allReduceSum(&dln2)
        var dx2 = LayerNorm.backward(dln2, cache: c.ln2Cache, g: ln2g.value, dg: &ln2g.grad, db: &ln2b.grad,
                                     rows: n, dim: d)
        addInPlace(&dx2, dOut)
        // Attention: x2 = x + Wo·attn(q, k, v) + bo
        addColumnSums(dx2, into: &bo.grad, rows: n, cols: d)
        let dAttn = linearBackward(dx2, c.attn, wo.value, dW: &wo.grad, rows: n, inDim: localWidth, outDim: d)
        let attention = CausalAttention(batch: c.batch, seq: config.seqLen, heads: localHeads, headDim: config.headDim)
        let (dq, dk, dv) = attention.backward(dOut: dAttn, q: c.q, k: c.k, v: c.v, probs: c.probs)
        var dln1 = linearBackward(dq, c.ln1, wq.value, dW: &wq.grad, rows: n, inDim: d, outDim: localWidth)
        addInPlace(&dln1, linearBackward(dk, c.ln1, wk.value, dW: &wk.grad, rows: n, inDim: d, outDim: localWidth))
        addInPlace(&dln1, linearBackward(dv, c.ln1, wv.value, dW: &wv.grad, rows: n, inDim: d, outDim: localWidth))
        try tensor.allReduceSum(&dln1)
        var dx = LayerNorm.backward(dln1, cache: c.ln1Cache, g: ln1g.value, dg: &ln1g.grad, db: &ln1b.grad,
                                    rows: n, dim: d)
        addInPlace(&dx, dx2)
        return dx
    }
}
