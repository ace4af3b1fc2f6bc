import AgentProtocol
import RingmasterModel

/// Why an agent channel ended.
public enum ChannelCloseReason: Hashable, Sendable, CustomStringConvertible {
    /// The agent's output ended: it exited, or the SSH channel closed cleanly.
    case endOfStream(String?)
    /// The agent sent something that is not the protocol (malformed JSON, an over-long line, no hello first).
    case protocolViolation(String)
    /// The transport broke (SSH connection lost, pipe error).
    case transportError(String)
    /// The controller closed it.
    case closedByController

    public var description: String {
        switch self {
        case .endOfStream(let detail): "agent channel ended" + (detail.map { ": \($0)" } ?? "")
        case .protocolViolation(let m): "protocol violation: \(m)"
        case .transportError(let m): "transport error: \(m)"
        case .closedByController: "closed by the controller"
        }
    }
}

/// What a channel reports, in order: messages, then `closed` exactly once.
public enum AgentChannelEvent: Sendable {
    case message(AgentMessage)
    case closed(ChannelCloseReason)
}

/// An open connection to one agent.
public protocol AgentChannel: Sendable {
    /// Queues `message` for the agent. Never blocks; false when the channel has ended.
    @discardableResult
    func send(_ message: ControllerMessage) -> Bool
    /// Closes the channel: the agent sees its stdin end, stops its ranks and exits.
    func close()
}

/// How the controller reaches agents: SSH, local pipes, or a fake. Every network edge is a protocol.
public protocol AgentTransport: Sendable {
    /// Opens a channel to the agent of `node` (deploying it first where needed). Blocking work runs on a
    /// thread of the transport's own, never in the caller's task. `handler` runs on that transport thread.
    func open(
        node: NodeEntry, inventory: ClusterInventory, handler: @escaping @Sendable (AgentChannelEvent) -> Void
    ) async throws -> any AgentChannel
}

/// Turns the agent's output bytes into events: framing (1 MiB lines), JSON decoding. The first
/// violation closes the stream.
package struct AgentStreamDecoder {
    private var framer = LineFramer()
    package private(set) var violation: String?
    /// The build hash the first message (`hello`) must carry, when known.
    package var expectedBuildHash: String?
    private var sawHello = false

    /// Feeds bytes; returns decoded messages, stopping at the first violation.
    package init() {}

    package mutating func feed(_ bytes: some Sequence<UInt8>) -> [AgentMessage] {
        guard violation == nil else { return [] }
        framer.append(bytes)
        var out: [AgentMessage] = []
        do {
            while let line = try framer.nextLine() {
                do {
                    let message = try AgentWire.decodeAgentMessage(line)
                    if !sawHello {
                        guard case .hello(let hello) = message else {
                            violation = "first agent message is '\(message.typeName)', not 'hello'"
                            return out
                        }
                        if let expected = expectedBuildHash, hello.buildHash != expected {
                            violation = "agent build \(hello.buildHash.prefix(12)) is not ours (\(expected.prefix(12)))"
                            return out
                        }
                        sawHello = true
                    }
                    out.append(message)
                } catch {
                    violation = "malformed agent message: \(String(decoding: line.prefix(120), as: UTF8.self))"
                    return out
                }
            }
        } catch {
            violation = error.description
        }
        return out
    }
}

/// The last lines an agent wrote to stderr, for error messages.
package struct StderrTail {
    private var lines: [String] = []
    private var partial: [UInt8] = []

    package init() {}

    package mutating func append(_ bytes: [UInt8]) {
        for b in bytes {
            if b == 10 {
                lines.append(String(decoding: partial.prefix(300), as: UTF8.self))
                partial.removeAll(keepingCapacity: true)
                if lines.count > 5 { lines.removeFirst() }
            } else if partial.count < 4096 {
                partial.append(b)
            }
        }
    }

    package var summary: String? { lines.last }
}
