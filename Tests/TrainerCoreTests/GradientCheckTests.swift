@testable import TrainerCore
import RingmasterModel
import Testing

/// Central differences in Float32: ε = 1e-2 and a tolerance that fits its rounding.
func expectGradientsMatch(_ name: String, count: Int, samples: Int = 12, analytic: [Float],
                          loss: (Int, Float) -> Float, tolerance: Float = 3e-2) {
    var rng = SplitMix64(seed: 99)
    for _ in 0..<samples {
        let i = Int(rng.next() % UInt64(count))
        let eps: Float = 1e-2
        let numeric = (loss(i, eps) - loss(i, -eps)) / (2 * eps)
        let error = abs(numeric - analytic[i]) / max(1e-2, abs(numeric) + abs(analytic[i]))
        #expect(error < tolerance, "\(name)[\(i)]: numeric \(numeric), analytic \(analytic[i])")
    }
}

func randomVector(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var rng = SplitMix64(seed: seed)
    return (0..<n).map { _ in rng.nextSigned() * scale }
}

func dot(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

@Suite struct GradientChecks {
    let rows = 6, dim = 8

    @Test func layerNorm() {
        let x = randomVector(rows * dim, seed: 1), g = randomVector(dim, seed: 2), b = randomVector(dim, seed: 3)
        let r = randomVector(rows * dim, seed: 4)
        let (_, cache) = LayerNorm.forward(x, g: g, b: b, rows: rows, dim: dim)
        var dg = [Float](repeating: 0, count: dim), db = dg
        let dx = LayerNorm.backward(r, cache: cache, g: g, dg: &dg, db: &db, rows: rows, dim: dim)
        expectGradientsMatch("dx", count: x.count, analytic: dx) { i, e in
            var xp = x
            xp[i] += e
            return dot(LayerNorm.forward(xp, g: g, b: b, rows: rows, dim: dim).0, r)
        }
        expectGradientsMatch("dg", count: dim, analytic: dg) { i, e in
            var gp = g
            gp[i] += e
            return dot(LayerNorm.forward(x, g: gp, b: b, rows: rows, dim: dim).0, r)
        }
    }

    @Test func gelu() {
        let x = randomVector(40, seed: 5, scale: 3), r = randomVector(40, seed: 6)
        let dx = GELU.backward(r, x)
        expectGradientsMatch("gelu", count: x.count, analytic: dx) { i, e in
            var xp = x
            xp[i] += e
            return dot(GELU.forward(xp), r)
        }
    }

    @Test func causalAttention() {
        let att = CausalAttention(batch: 2, seq: 5, heads: 2, headDim: 3)
        let n = 2 * 5 * 6
        let q = randomVector(n, seed: 7), k = randomVector(n, seed: 8), v = randomVector(n, seed: 9)
        let r = randomVector(n, seed: 10)
        let (_, probs) = att.forward(q: q, k: k, v: v)
        let (dq, dk, dv) = att.backward(dOut: r, q: q, k: k, v: v, probs: probs)
        expectGradientsMatch("dq", count: n, analytic: dq) { i, e in
            var p = q
            p[i] += e
            return dot(att.forward(q: p, k: k, v: v).0, r)
        }
        expectGradientsMatch("dk", count: n, analytic: dk) { i, e in
            var p = k
            p[i] += e
            return dot(att.forward(q: q, k: p, v: v).0, r)
        }
        expectGradientsMatch("dv", count: n, analytic: dv) { i, e in
            var p = v
            p[i] += e
            return dot(att.forward(q: q, k: k, v: p).0, r)
        }
        // Causality: the output of position 0 does not depend on later keys.
        var later = k
        later[4 * 6] += 5
        #expect(att.forward(q: q, k: later, v: v).0[0..<6] == att.forward(q: q, k: k, v: v).0[0..<6])
    }

    @Test func linearAndCrossEntropy() {
        let x = randomVector(rows * dim, seed: 11), w = randomVector(dim * 5, seed: 12), b = randomVector(5, seed: 13)
        let targets = (0..<rows).map { $0 % 5 }
        func loss(_ x: [Float], _ w: [Float]) -> Float {
            softmaxCrossEntropy(linear(x, w, b, rows: rows, inDim: dim, outDim: 5), targets: targets, rows: rows,
                                vocab: 5, scale: 1).0
        }
        let logits = linear(x, w, b, rows: rows, inDim: dim, outDim: 5)
        let (_, dlogits) = softmaxCrossEntropy(logits, targets: targets, rows: rows, vocab: 5, scale: 1)
        var dw = [Float](repeating: 0, count: w.count)
        let dx = linearBackward(dlogits, x, w, dW: &dw, rows: rows, inDim: dim, outDim: 5)
        expectGradientsMatch("dx", count: x.count, analytic: dx) { i, e in
            var p = x
            p[i] += e
            return loss(p, w)
        }
        expectGradientsMatch("dw", count: w.count, analytic: dw) { i, e in
            var p = w
            p[i] += e
            return loss(x, p)
        }
    }

    @Test func wholeModelParameters() throws {
        let config = ModelConfig(vocab: 11, dModel: 8, heads: 2, layers: 2, seqLen: 4)
        let model = StageModel(config: config, seed: 3, stage: 0, stages: 1, tensor: SoloGroup())
        let corpus = SyntheticCorpus(seed: 3, vocab: 11, seqLen: 4)
        let samples = [corpus.sample(1), corpus.sample(2)]
        let tokens = samples.flatMap(\.inputs), targets = samples.flatMap(\.targets)
        func loss() throws -> Float {
            let (logits, _) = try model.forward(tokens: tokens, input: nil, batch: 2)
            return softmaxCrossEntropy(logits, targets: targets, rows: 8, vocab: 11, scale: 1).0
        }
        model.params.zeroGrad()
        let (logits, cache) = try model.forward(tokens: tokens, input: nil, batch: 2)
        let (_, dlogits) = softmaxCrossEntropy(logits, targets: targets, rows: 8, vocab: 11, scale: 1)
        _ = try model.backward(dlogits, cache: cache)
        for p in model.params.all {
            let analytic = p.grad
            expectGradientsMatch(p.name, count: p.value.count, samples: 4, analytic: analytic) { i, e in
                let saved = p.value[i]
                p.value[i] += e
                defer { p.value[i] = saved }
                return (try? loss()) ?? .nan
            }
        }
    }
}
