#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// When an operation fails on one rank, that rank sends an abort frame on every link of the
/// group that is at a frame boundary, so the other ranks fail with the same reason at once
/// instead of waiting for their deadline. Header: kind = abort, count = error code,
/// aux = the rank the error is about, payload = the human-readable reason.
enum AbortFrame {
    static func code(of error: CollectiveError) -> (code: UInt64, rank: UInt32) {
        switch error {
        case .peerLost(let r): return (1, UInt32(truncatingIfNeeded: r))
        case .timeout: return (2, 0)
        case .mismatch: return (3, 0)
        default: return (4, 0)
        }
    }

    /// Best effort: never blocks more than `patience`, never splits an existing frame.
    static func send(_ error: CollectiveError, from rank: Int, on link: Link, patience: Duration = .milliseconds(200)) {
        guard !link.midFrameOut else { return }
        let reason: String
        switch error {
        case .timeout(let s): reason = "rank \(rank) timed out: \(s)"
        case .mismatch(let s): reason = "\(s) (detected by rank \(rank))"
        default: reason = "rank \(rank) failed: \(error)"
        }
        let text = Array(reason.utf8.prefix(4000))
        let (code, about) = code(of: error)
        let header = FrameHeader(kind: .abort, dataType: nil, reduceOp: nil, sequence: 0, count: code,
                                 payloadBytes: UInt32(text.count), aux: about)
        var bytes = [UInt8](repeating: 0, count: FrameHeader.size)
        bytes.withUnsafeMutableBytes { header.encode(into: $0.baseAddress!) }
        bytes += text
        // Mark the link as mid-frame until the abort is fully out, so nothing else interleaves.
        link.midFrameOut = true
        do {
            try Socket.writeAll(link.fd, bytes, deadline: .after(patience))
        } catch {
            return
        }
        link.midFrameOut = false
    }

    /// Turns a received abort header (already consumed, with `prefix`: the first bytes of its
    /// reason, when they were read along with it) into the error it reports.
    static func receive(_ h: FrameHeader, on link: Link, prefix: [UInt8] = []) -> CollectiveError {
        let length = Int(min(h.payloadBytes, 4000))
        let start = Array(prefix.prefix(length))
        let rest = start.count == length ? [] : try? Socket.readExactly(link.fd, length - start.count, deadline: .after(.seconds(1)))
        let text = rest.map { String(decoding: start + $0, as: UTF8.self) } ?? "rank \(link.peerGlobal) aborted"
        switch h.count {
        case 1: return .peerLost(rank: Int(h.aux))
        case 2: return .timeout(text)
        case 3: return .mismatch(text)
        default: return .mismatch("rank \(link.peerGlobal) aborted the operation: \(text)")
        }
    }
}
