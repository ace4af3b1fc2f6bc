#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Framing of the agent protocol: one JSON document per line, lines at most `maxLineBytes`.
public enum AgentWire {
    /// The protocol's line cap (1 MiB), newline excluded.
    public static let maxLineBytes = 1 << 20

    /// JSON of `message` followed by `\n`. Throws `.lineTooLong` rather than produce a line the peer refuses.
    public static func encodeLine(_ message: any Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return try line([UInt8](try encoder.encode(message)))
    }

    /// A controller message: `encodeLine`'s JSON. Launches take the fast path.
    public static func encodeLine(_ message: ControllerMessage) throws -> [UInt8] {
        guard let json = ControllerMessageFastPath.encode(message) else { return try encodeLine(message as any Encodable) }
        return try line(json)
    }

    /// An agent message: `encodeLine`'s JSON. The messages `AgentMessageFastPath` writes take it.
    public static func encodeLine(_ message: AgentMessage) throws -> [UInt8] {
        guard let json = AgentMessageFastPath.encode(message) else { return try encodeLine(message as any Encodable) }
        return try line(json)
    }

    /// The document as one protocol line: within the cap, then `\n`.
    private static func line(_ json: [UInt8]) throws -> [UInt8] {
        guard json.count <= maxLineBytes else { throw FramingError.lineTooLong(json.count) }
        var line = json
        line.append(UInt8(ascii: "\n"))
        return line
    }

    /// The line's agent message. The hot messages in their plain form take `AgentMessageFastPath`; every other
    /// line `JSONDecoder`, with the same result.
    public static func decodeAgentMessage(_ line: some Collection<UInt8>) throws -> AgentMessage {
        if let message = AgentMessageFastPath.decode(line) { return message }
        return try decodeAgentMessageSlowly(line)
    }

    /// `JSONDecoder` alone (what the fast path must agree with).
    public static func decodeAgentMessageSlowly(_ line: some Collection<UInt8>) throws -> AgentMessage {
        try JSONDecoder().decode(AgentMessage.self, from: Data(line))
    }

    public static func decodeControllerMessage(_ line: some Collection<UInt8>) throws -> ControllerMessage {
        try JSONDecoder().decode(ControllerMessage.self, from: Data(line))
    }
}

public enum FramingError: Error, Hashable, CustomStringConvertible {
    /// A line (or an unterminated tail) longer than the cap.
    case lineTooLong(Int)

    public var description: String {
        switch self {
        case .lineTooLong(let n): "protocol line of \(n) bytes exceeds the \(AgentWire.maxLineBytes)-byte cap"
        }
    }
}

/// Splits a byte stream into lines, refusing any line longer than `maxLineBytes`. Memory stays within
/// `maxLineBytes` plus one read. Empty lines are skipped; a trailing `\r` is kept (JSON ignores it).
public struct LineFramer: Sendable {
    public let maxLineBytes: Int
    private var buffer: [UInt8] = []
    private var start = 0
    /// Where the newline search resumes (everything in `start..<scanned` has no newline).
    private var scanned = 0

    public init(maxLineBytes: Int = AgentWire.maxLineBytes) {
        self.maxLineBytes = maxLineBytes
    }

    /// Bytes buffered without a complete line yet.
    public var pendingBytes: Int { buffer.count - start }

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        if start > 0, start >= buffer.count / 2 {
            buffer.removeFirst(start)
            scanned -= start
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete line without its newline, nil when none is complete yet.
    public mutating func nextLine() throws(FramingError) -> ArraySlice<UInt8>? {
        while true {
            guard let nl = buffer[scanned...].firstIndex(of: UInt8(ascii: "\n")) else {
                scanned = buffer.count
                if buffer.count - start > maxLineBytes { throw .lineTooLong(buffer.count - start) }
                return nil
            }
            let line = buffer[start..<nl]
            start = nl + 1
            scanned = start
            if line.count > maxLineBytes { throw .lineTooLong(line.count) }
            if line.isEmpty { continue }
            return line
        }
    }
}
