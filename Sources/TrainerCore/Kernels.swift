/// Dense row-major float kernels. Loop orders keep the innermost loop contiguous so the compiler
/// vectorises it; accumulation order is fixed, so results are bit-reproducible run to run.
enum Kernels {
    /// C[m×n] += A[m×k] · B[k×n]
    static func matmulAdd(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                          m: Int, k: Int, n: Int) {
        for i in 0..<m {
            let ci = c + i * n
            for p in 0..<k {
                let av = a[i * k + p]
                let bp = b + p * n
                for j in 0..<n { ci[j] += av * bp[j] }
            }
        }
    }

    /// C[k×n] += Aᵀ · B, with A[m×k] and B[m×n] (weight gradients: xᵀ·dy).
    static func matmulATAdd(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                            m: Int, k: Int, n: Int) {
        for i in 0..<m {
            let bi = b + i * n
            for p in 0..<k {
                let av = a[i * k + p]
                let cp = c + p * n
                for j in 0..<n { cp[j] += av * bi[j] }
            }
        }
    }

    /// C[m×k] += A · Bᵀ, with A[m×n] and B[k×n] (input gradients: dy·Wᵀ).
    static func matmulBTAdd(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                            m: Int, n: Int, k: Int) {
        for i in 0..<m {
            let ai = a + i * n
            for p in 0..<k {
                let bp = b + p * n
                var s: Float = 0
                for j in 0..<n { s += ai[j] * bp[j] }
                c[i * k + p] += s
            }
        }
    }
}

/// y = x·W (+ b): x[rows×inDim], W[inDim×outDim].
func linear(_ x: [Float], _ w: [Float], _ bias: [Float]?, rows: Int, inDim: Int, outDim: Int) -> [Float] {
    var y = [Float](repeating: 0, count: rows * outDim)
    if let bias {
        for r in 0..<rows { for j in 0..<outDim { y[r * outDim + j] = bias[j] } }
    }
    x.withUnsafeBufferPointer { xp in
        w.withUnsafeBufferPointer { wp in
            y.withUnsafeMutableBufferPointer { yp in
                Kernels.matmulAdd(xp.baseAddress!, wp.baseAddress!, yp.baseAddress!, m: rows, k: inDim, n: outDim)
            }
        }
    }
    return y
}

/// Backward of `linear`: accumulates dW and returns dx (bias gradients: `addColumnSums`).
func linearBackward(_ dy: [Float], _ x: [Float], _ w: [Float], dW: inout [Float],
                    rows: Int, inDim: Int, outDim: Int) -> [Float] {
    var dx = [Float](repeating: 0, count: rows * inDim)
    dy.withUnsafeBufferPointer { dyp in
        x.withUnsafeBufferPointer { xp in
            dW.withUnsafeMutableBufferPointer { dwp in
                Kernels.matmulATAdd(xp.baseAddress!, dyp.baseAddress!, dwp.baseAddress!, m: rows, k: inDim, n: outDim)
            }
        }
        w.withUnsafeBufferPointer { wp in
            dx.withUnsafeMutableBufferPointer { dxp in
                Kernels.matmulBTAdd(dyp.baseAddress!, wp.baseAddress!, dxp.baseAddress!, m: rows, n: outDim, k: inDim)
            }
        }
    }
    return dx
}

/// db[j] += Σ_rows dy[r, j]
func addColumnSums(_ dy: [Float], into db: inout [Float], rows: Int, cols: Int) {
    for r in 0..<rows { for j in 0..<cols { db[j] += dy[r * cols + j] } }
}

/// a += b, elementwise.
func addInPlace(_ a: inout [Float], _ b: [Float]) {
    for i in a.indices { a[i] += b[i] }
}
