import RingmasterModel
import AgentProtocol

/// A rank's stdout and stderr on their way to the controller: each stream batched in bounded memory.
public struct RankOutput: Sendable {
    private var stdout: LogBatcher
    private var stderr: LogBatcher

    public init(maxPendingBytes: Int, maxLineBytes: Int) {
        stdout = LogBatcher(maxPendingBytes: maxPendingBytes, maxLineBytes: maxLineBytes)
        stderr = stdout
    }

    public mutating func ingest(_ bytes: [UInt8], from stream: LogStream) {
        switch stream {
        case .stdout: stdout.ingest(bytes)
        case .stderr: stderr.ingest(bytes)
        }
    }

    /// True when the stream has lines or a dropped count to send.
    public func hasPending(_ stream: LogStream) -> Bool {
        switch stream {
        case .stdout: !stdout.isEmpty
        case .stderr: !stderr.isEmpty
        }
    }

    /// The next batch of the stream (with the unterminated tail when `final`), nil when there is nothing to send.
    public mutating func batch(of rank: RankRef, _ stream: LogStream, final: Bool) -> LogBatch? {
        let flushed: (lines: [String], droppedBytes: UInt64)?
        switch stream {
        case .stdout: flushed = stdout.flush(final: final)
        case .stderr: flushed = stderr.flush(final: final)
        }
        return flushed.map { LogBatch(rank: rank, stream: stream, lines: $0.lines, droppedBytes: $0.droppedBytes) }
    }
}
