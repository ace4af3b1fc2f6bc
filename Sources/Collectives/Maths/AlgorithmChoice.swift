/// Which all-reduce algorithm a buffer size gets. Both sides of every link compute this from
/// the same inputs (and the frame header carries the choice, so a rank configured differently
/// is reported as a mismatch rather than misread).
public enum AllReduceAlgorithm: UInt8, Sendable, CustomStringConvertible {
    case recursiveDoubling = 2
    case ring = 1

    public var description: String { self == .ring ? "ring" : "recursive-doubling" }
}

public enum AlgorithmChoice {
    /// Measured with `ringmaster bench allreduce --algorithm ring|doubling` on the 2-core
    /// development machine (loopback, float32 sum, median µs, doubling / ring):
    ///
    ///     bytes   N=2        N=3        N=4
    ///     8       48 / 75    115 / 176  194 / 350
    ///     64K     84 / 102   197 / 212  316 / 429
    ///     96K     80 / 104   236 / 249  363 / 671
    ///     128K    102 / 170  295 / 310  494 / 703
    ///     192K    158 / 189  387 / 350  629 / 676
    ///     256K    315 / 235  425 / 415  844 / 742
    ///     1M      1169 / 964 1586 / 1324 3224 / 2536
    ///
    /// Measured again after the ring's chunks grew to 512 KiB (2026-11-23, 40 iterations, two
    /// rounds, doubling / ring):
    ///
    ///     bytes   N=2              N=3              N=4
    ///     128K    98–108 / 110–116 195–230 / 256–262 416–436 / 452–487
    ///     192K    126–137 / 140–147 236–244 / 327–329 568–585 / 497–503
    ///     256K    145–194 / 164–166 337–359 / 382–387 388–537 / 399–416
    ///     512K    335–350 / 278–282 516 / 460–537     657–911 / 791–840
    ///
    /// The crossover lies between 128 KiB and 256 KiB at every N; 128 KiB is the largest size
    /// at which doubling still won everywhere (N = 4 loses from 192 KiB on). Recursive doubling moves the whole buffer log2(N)
    /// times, so it wins while per-hop latency dominates and loses once bandwidth does.
    ///
    /// Tried and dropped (2026-11-23, same machine, 8 B / 4 KiB, µs): a one-hop "direct"
    /// exchange (every rank sends to every other, then adds in rank order) was no faster at
    /// N ≤ 4 (N = 4: 153–172 vs 164–172) and 1.4× slower at N = 8; spinning 20–100 µs on
    /// poll(0) + sched_yield before sleeping made N = 4 slower (182–196 vs 151–155), since
    /// four ranks share two cores. Small-message time here is syscalls and context switches.
    public static let measuredThresholdBytes = 128 << 10

    public static func choose(bytes: Int, worldSize: Int, threshold: Int) -> AllReduceAlgorithm {
        worldSize > 1 && bytes <= threshold ? .recursiveDoubling : .ring
    }
}
