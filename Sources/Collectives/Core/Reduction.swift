/// The element-wise kernels: `dst[i] = op(dst[i], src[i])` and the final division of `avg`.
///
/// Accumulation and rounding:
/// - Float32 and Float64 add in their own precision.
/// - Float16 and BFloat16 add each pair in Float32 and round the result to nearest, ties to
///   even, back into 16 bits. Float32 holds more than twice the 16-bit formats' precision plus
///   two bits, so every hop gives the exactly rounded 16-bit sum of its two operands. A sum over
///   N ranks is therefore rounded N−1 times, in the order the algorithm combines partial sums
///   (ring order for large buffers, pairwise for small ones); every rank ends with the same bits.
/// - Int32 and Int64 sums wrap around on overflow (two's complement); `avg` truncates toward zero.
enum Reduction {
    static func apply(_ op: ReduceOp, _ type: DataType,
                      into dst: UnsafeMutableRawPointer, from src: UnsafeRawPointer, count: Int) {
        guard count > 0 else { return }
        switch type {
        case .float32: Kernels<Float>.apply(op, dst, src, count)
        case .float64: Kernels<Double>.apply(op, dst, src, count)
        case .int32: IntKernels<Int32>.apply(op, dst, src, count)
        case .int64: IntKernels<Int64>.apply(op, dst, src, count)
        case .float16: HalfKernels.apply(op, dst, src, count)
        case .bfloat16: BFloatKernels.apply(op, dst, src, count)
        }
    }

    /// Divides each of `count` elements by `divisor` (the last step of `avg`).
    static func divide(_ type: DataType, _ buffer: UnsafeMutableRawPointer, count: Int, by divisor: Int) {
        guard count > 0, divisor != 1 else { return }
        switch type {
        case .float32:
            let p = buffer.assumingMemoryBound(to: Float.self)
            let d = Float(divisor)
            for i in 0..<count { p[i] = p[i] / d }
        case .float64:
            let p = buffer.assumingMemoryBound(to: Double.self)
            let d = Double(divisor)
            for i in 0..<count { p[i] = p[i] / d }
        case .int32:
            let p = buffer.assumingMemoryBound(to: Int32.self)
            let d = Int32(divisor)
            for i in 0..<count { p[i] = p[i] / d }
        case .int64:
            let p = buffer.assumingMemoryBound(to: Int64.self)
            let d = Int64(divisor)
            for i in 0..<count { p[i] = p[i] / d }
        case .float16:
            let p = buffer.assumingMemoryBound(to: Float16.self)
            let d = Float(divisor)
            for i in 0..<count { p[i] = Float16(Float(p[i]) / d) }
        case .bfloat16:
            let p = buffer.assumingMemoryBound(to: UInt16.self)
            let d = Float(divisor)
            for i in 0..<count {
                p[i] = BFloat16(BFloat16(bitPattern: p[i]).floatValue / d).bitPattern
            }
        }
    }
}

private enum Kernels<T: BinaryFloatingPoint> {
    @inline(__always)
    static func apply(_ op: ReduceOp, _ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, _ n: Int) {
        let d = dst.assumingMemoryBound(to: T.self)
        let s = src.assumingMemoryBound(to: T.self)
        switch op {
        case .sum, .avg: for i in 0..<n { d[i] = d[i] + s[i] }
        case .min: for i in 0..<n { d[i] = s[i] < d[i] ? s[i] : d[i] }
        case .max: for i in 0..<n { d[i] = s[i] > d[i] ? s[i] : d[i] }
        }
    }
}

private enum IntKernels<T: FixedWidthInteger> {
    @inline(__always)
    static func apply(_ op: ReduceOp, _ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, _ n: Int) {
        let d = dst.assumingMemoryBound(to: T.self)
        let s = src.assumingMemoryBound(to: T.self)
        switch op {
        case .sum, .avg: for i in 0..<n { d[i] = d[i] &+ s[i] }
        case .min: for i in 0..<n { d[i] = s[i] < d[i] ? s[i] : d[i] }
        case .max: for i in 0..<n { d[i] = s[i] > d[i] ? s[i] : d[i] }
        }
    }
}

private enum HalfKernels {
    static func apply(_ op: ReduceOp, _ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, _ n: Int) {
        let d = dst.assumingMemoryBound(to: Float16.self)
        let s = src.assumingMemoryBound(to: Float16.self)
        switch op {
        case .sum, .avg: for i in 0..<n { d[i] = Float16(Float(d[i]) + Float(s[i])) }
        case .min: for i in 0..<n { d[i] = s[i] < d[i] ? s[i] : d[i] }
        case .max: for i in 0..<n { d[i] = s[i] > d[i] ? s[i] : d[i] }
        }
    }
}

private enum BFloatKernels {
    static func apply(_ op: ReduceOp, _ dst: UnsafeMutableRawPointer, _ src: UnsafeRawPointer, _ n: Int) {
        let d = dst.assumingMemoryBound(to: UInt16.self)
        let s = src.assumingMemoryBound(to: UInt16.self)
        for i in 0..<n {
            let a = BFloat16(bitPattern: d[i]).floatValue
            let b = BFloat16(bitPattern: s[i]).floatValue
            let r: Float
            switch op {
            case .sum, .avg: r = a + b
            case .min: r = b < a ? b : a
            case .max: r = b > a ? b : a
            }
            d[i] = (op == .sum || op == .avg) ? BFloat16(r).bitPattern : (r == a ? d[i] : s[i])
        }
    }
}
