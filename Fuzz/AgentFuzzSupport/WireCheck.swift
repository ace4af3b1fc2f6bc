import AgentProtocol
import FuzzSupport

/// A message that was read, or that is about to be sent, must survive the wire: encoded as one protocol
/// line and decoded again it is the same message. Otherwise one side accepts what the other cannot read.
public enum WireCheck {
    public static func requireSurvives(_ message: AgentMessage) {
        requireSurvives(message) { try AgentWire.decodeAgentMessage($0) }
        // The fast path's own line (heartbeats, progress, checkpoints), read by JSONDecoder alone.
        if let line = AgentMessageFastPath.encode(message) {
            let back = try? AgentWire.decodeAgentMessageSlowly(line)
            Fuzzer.require(back == message, "\(message) written by the fast path came back as \(String(describing: back))")
        }
    }

    /// Whatever line the fast path reads, JSONDecoder reads the same.
    public static func requireFastPathAgrees(_ line: some Collection<UInt8>) {
        guard let fast = AgentMessageFastPath.decode(line) else { return }
        let slow = try? AgentWire.decodeAgentMessageSlowly(line)
        Fuzzer.require(fast == slow, "the fast path read \(fast), JSONDecoder \(String(describing: slow))")
    }

    public static func requireSurvives(_ message: ControllerMessage) {
        requireSurvives(message) { try AgentWire.decodeControllerMessage($0) }
        // A launch as the controller writes it (the fast path), read by the agent.
        if let line = ControllerMessageFastPath.encode(message) {
            let back = try? AgentWire.decodeControllerMessage(line)
            Fuzzer.require(back == message, "\(message) written by the fast path came back as \(String(describing: back))")
        }
    }

    static func requireSurvives<Message: Encodable & Equatable>(_ message: Message, decode: (ArraySlice<UInt8>) throws -> Message) {
        let line: [UInt8]
        do { line = try AgentWire.encodeLine(message) } catch {
            return Fuzzer.require(false, "\(message) cannot be encoded: \(error)")
        }
        let back = try? decode(line.dropLast())
        Fuzzer.require(back == message, "\(message) came back as \(String(describing: back))")
    }
}
