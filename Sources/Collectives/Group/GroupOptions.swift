/// Tunables of a process group. Defaults are what the benchmark measured best on loopback.
public struct GroupOptions: Sendable {
    /// Deadline of every operation unless the call passes its own.
    public var timeout: Duration = .seconds(120)
    /// Ring chunk size: each segment is cut into chunks of this many bytes, pipelined.
    ///
    /// Chunk and socket buffer were swept together with `ringmaster bench allreduce --chunk-kib C
    /// --socket-kib S` on the 2-core machine (float32, busbw GB/s at 16M / 64M / 256M, three
    /// alternating rounds): 512 KiB chunks with 1 MiB buffers beat the earlier 256 KiB / 4 MiB at
    /// every N — N = 2: 2.76–3.09 vs 2.28–2.51, N = 3: 1.65–1.99 vs 1.41–1.77, N = 4:
    /// 1.08–1.42 vs 1.00–1.29; 1024 KiB chunks were level, 2 and 4 MiB buffers worse. Smaller
    /// buffers keep the bytes a sender has queued in cache until the receiver copies them out.
    public var chunkBytes: Int = 512 << 10
    /// All-reduce buffers of at most this many bytes use recursive doubling instead of the ring.
    public var smallMessageBytes: Int = AlgorithmChoice.measuredThresholdBytes
    /// SO_SNDBUF / SO_RCVBUF of data connections (0: kernel default).
    public var socketBufferBytes: Int32 = 1 << 20
    /// How long `join` waits for every rank at the rendezvous.
    public var joinTimeout: Duration = .seconds(120)

    public init() {}
}
