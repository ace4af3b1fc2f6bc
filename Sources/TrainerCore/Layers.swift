import Foundation

/// Layer norm over rows of width `dim`: y = (x − μ)/σ · g + b. The cache keeps x̂ and 1/σ for backward.
struct LayerNorm {
    static let epsilon: Float = 1e-5

    struct Cache {
        var xhat: [Float]
        var rstd: [Float]
    }

    static func forward(_ x: [Float], g: [Float], b: [Float], rows: Int, dim: Int) -> ([Float], Cache) {
        var y = [Float](repeating: 0, count: rows * dim)
        var xhat = [Float](repeating: 0, count: rows * dim)
        var rstd = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            var mean: Float = 0
            for j in 0..<dim { mean += x[r * dim + j] }
            mean /= Float(dim)
            var variance: Float = 0
            for j in 0..<dim {
                let d = x[r * dim + j] - mean
                variance += d * d
            }
            variance /= Float(dim)
            let s = 1 / (variance + epsilon).squareRoot()
            rstd[r] = s
            for j in 0..<dim {
                let h = (x[r * dim + j] - mean) * s
                xhat[r * dim + j] = h
                y[r * dim + j] = h * g[j] + b[j]
            }
        }
        return (y, Cache(xhat: xhat, rstd: rstd))
    }

    /// dx = (1/σ)·(dŷ − mean(dŷ) − x̂·mean(dŷ·x̂)), with dŷ = dy·g.
    static func backward(_ dy: [Float], cache: Cache, g: [Float], dg: inout [Float], db: inout [Float],
                         rows: Int, dim: Int) -> [Float] {
        var dx = [Float](repeating: 0, count: rows * dim)
        for r in 0..<rows {
            var meanD: Float = 0
            var meanDX: Float = 0
            for j in 0..<dim {
                let i = r * dim + j
                dg[j] += dy[i] * cache.xhat[i]
                db[j] += dy[i]
                let d = dy[i] * g[j]
                meanD += d
                meanDX += d * cache.xhat[i]
            }
            meanD /= Float(dim)
            meanDX /= Float(dim)
            for j in 0..<dim {
                let i = r * dim + j
                dx[i] = cache.rstd[r] * (dy[i] * g[j] - meanD - cache.xhat[i] * meanDX)
            }
        }
        return dx
    }
}

/// GELU, tanh approximation.
enum GELU {
    static let c: Float = 0.7978845608  // √(2/π)

    static func forward(_ x: [Float]) -> [Float] {
        x.map { v in 0.5 * v * (1 + tanhf(c * (v + 0.044715 * v * v * v))) }
    }

    static func backward(_ dy: [Float], _ x: [Float]) -> [Float] {
        var dx = [Float](repeating: 0, count: x.count)
        for i in x.indices {
            let v = x[i]
            let u = c * (v + 0.044715 * v * v * v)
            let t = tanhf(u)
            let du = c * (1 + 3 * 0.044715 * v * v)
            dx[i] = dy[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * du)
        }
        return dx
    }
}

/// Causal multi-head self-attention over `batch` sequences of `seq` tokens; q, k, v are
/// [batch·seq × heads·headDim] with each head's columns contiguous.
struct CausalAttention {
    var batch: Int
    var seq: Int
    var heads: Int
    var headDim: Int

    var width: Int { heads * headDim }

    /// Returns the output and the attention probabilities [batch][head][seq×seq] for backward.
    func forward(q: [Float], k: [Float], v: [Float]) -> ([Float], [Float]) {
        var out = [Float](repeating: 0, count: batch * seq * width)
        var probs = [Float](repeating: 0, count: batch * heads * seq * seq)
        let scale = 1 / Float(headDim).squareRoot()
        for b in 0..<batch {
            for h in 0..<heads {
                let pBase = (b * heads + h) * seq * seq
                for i in 0..<seq {
                    let qi = (b * seq + i) * width + h * headDim
                    var maxScore = -Float.infinity
                    for j in 0...i {
                        let kj = (b * seq + j) * width + h * headDim
                        var s: Float = 0
                        for d in 0..<headDim { s += q[qi + d] * k[kj + d] }
                        s *= scale
                        probs[pBase + i * seq + j] = s
                        maxScore = max(maxScore, s)
                    }
                    var sum: Float = 0
                    for j in 0...i {
                        let e = expf(probs[pBase + i * seq + j] - maxScore)
                        probs[pBase + i * seq + j] = e
                        sum += e
                    }
                    for j in 0...i {
                        let p = probs[pBase + i * seq + j] / sum
                        probs[pBase + i * seq + j] = p
                        let vj = (b * seq + j) * width + h * headDim
                        for d in 0..<headDim { out[qi + d] += p * v[vj + d] }
                    }
                }
            }
        }
        return (out, probs)
    }

    /// Gradients of q, k, v from the output gradient.
    func backward(dOut: [Float], q: [Float], k: [Float], v: [Float], probs: [Float]) -> ([Float], [Float], [Float]) {
        var dq = [Float](repeating: 0, count: q.count)
        var dk = [Float](repeating: 0, count: k.count)
        var dv = [Float](repeating: 0, count: v.count)
        let scale = 1 / Float(headDim).squareRoot()
        var dp = [Float](repeating: 0, count: seq)
        for b in 0..<batch {
            for h in 0..<heads {
                let pBase = (b * heads + h) * seq * seq
                for i in 0..<seq {
                    let oi = (b * seq + i) * width + h * headDim
                    var dot: Float = 0
                    for j in 0...i {
                        let vj = (b * seq + j) * width + h * headDim
                        let p = probs[pBase + i * seq + j]
                        var g: Float = 0
                        for d in 0..<headDim {
                            g += dOut[oi + d] * v[vj + d]
                            dv[vj + d] += p * dOut[oi + d]
                        }
                        dp[j] = g
                        dot += g * p
                    }
                    for j in 0...i {
                        let ds = probs[pBase + i * seq + j] * (dp[j] - dot) * scale
                        let kj = (b * seq + j) * width + h * headDim
                        for d in 0..<headDim {
                            dq[oi + d] += ds * k[kj + d]
                            dk[kj + d] += ds * q[oi + d]
                        }
                    }
                }
            }
        }
        return (dq, dk, dv)
    }
}

/// Mean softmax cross-entropy over rows of logits; returns the loss and d(loss)/d(logits) times `scale`.
func softmaxCrossEntropy(_ logits: [Float], targets: [Int], rows: Int, vocab: Int, scale: Float) -> (Float, [Float]) {
    var grad = [Float](repeating: 0, count: logits.count)
    var loss: Double = 0
    for r in 0..<rows {
        let base = r * vocab
        var m = -Float.infinity
        for j in 0..<vocab { m = max(m, logits[base + j]) }
        var sum: Float = 0
        for j in 0..<vocab { sum += expf(logits[base + j] - m) }
        let logSum = logf(sum) + m
        loss += Double(logSum - logits[base + targets[r]])
        for j in 0..<vocab {
            grad[base + j] = expf(logits[base + j] - logSum) * scale / Float(rows)
        }
        grad[base + targets[r]] -= scale / Float(rows)
    }
    return (Float(loss / Double(rows)), grad)
}
