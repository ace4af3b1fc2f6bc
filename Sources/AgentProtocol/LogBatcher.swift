/// Turns one output stream of a rank into batches of lines with bounded memory.
///
/// Bytes are held until `flush`; once `maxPendingBytes` are held, further bytes are dropped and counted
/// (the node's log file keeps everything). A line longer than `maxLineBytes` is cut into pieces.
public struct LogBatcher: Sendable {
    public let maxPendingBytes: Int
    public let maxLineBytes: Int
    private var lines: [[UInt8]] = []
    private var partial: [UInt8] = []
    private var pending = 0
    private var dropped: UInt64 = 0

    public init(maxPendingBytes: Int = 128 * 1024, maxLineBytes: Int = 16 * 1024) {
        precondition(maxPendingBytes > 0 && maxLineBytes > 0)
        self.maxPendingBytes = maxPendingBytes
        self.maxLineBytes = maxLineBytes
    }

    /// Bytes held for the next batch.
    public var pendingBytes: Int { pending }
    /// Bytes dropped since the last batch.
    public var droppedBytes: UInt64 { dropped }
    /// True when a batch is worth sending now rather than at the next timer tick.
    public var isFull: Bool { pending >= maxPendingBytes / 2 }
    public var isEmpty: Bool { pending == 0 && dropped == 0 }

    public mutating func ingest(_ bytes: some Collection<UInt8>) {
        var rest = bytes[...]
        // Keep only what fits; count the rest.
        let room = maxPendingBytes - pending
        if rest.count > room {
            dropped += UInt64(rest.count - max(room, 0))
            rest = rest.prefix(max(room, 0))
        }
        pending += rest.count
        while let nl = rest.firstIndex(of: UInt8(ascii: "\n")) {
            appendPartial(rest[..<nl])
            endLine()
            rest = rest[rest.index(after: nl)...]
        }
        appendPartial(rest)
    }

    private mutating func appendPartial(_ bytes: some Collection<UInt8>) {
        partial.append(contentsOf: bytes)
        while partial.count > maxLineBytes {
            lines.append(Array(partial.prefix(maxLineBytes)))
            partial.removeFirst(maxLineBytes)
        }
    }

    private mutating func endLine() {
        if partial.last == UInt8(ascii: "\r") { partial.removeLast() }
        lines.append(partial)
        partial.removeAll(keepingCapacity: true)
    }

    /// The complete lines held (and, when `final`, the unterminated tail) plus the dropped count;
    /// nil when there is nothing to send.
    public mutating func flush(final: Bool = false) -> (lines: [String], droppedBytes: UInt64)? {
        if final, !partial.isEmpty { endLine() }
        guard !lines.isEmpty || dropped > 0 else { return nil }
        let out = lines.map { String(decoding: $0, as: UTF8.self) }
        let d = dropped
        lines.removeAll(keepingCapacity: true)
        dropped = 0
        pending = partial.count
        return (out, d)
    }
}
