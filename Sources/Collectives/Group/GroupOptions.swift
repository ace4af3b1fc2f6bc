/// Tunables of a process group. Defaults are what the benchmark measured best on loopback.
public struct GroupOptions: Sendable {
    /// Deadline of every operation unless the call passes its own.
    public var timeout: Duration = .seconds(120)
    /// Ring chunk size: each segment is cut into chunks of this many bytes, pipelined.
    public var chunkBytes: Int = 256 << 10
    /// All-reduce buffers of at most this many bytes use recursive doubling instead of the ring.
    public var smallMessageBytes: Int = AlgorithmChoice.measuredThresholdBytes
    /// SO_SNDBUF / SO_RCVBUF of data connections (0: kernel default).
    public var socketBufferBytes: Int32 = 4 << 20
    /// How long `join` waits for every rank at the rendezvous.
    public var joinTimeout: Duration = .seconds(120)

    public init() {}
}
