import AgentProtocol
import FuzzSupport

/// A message that was read, or that is about to be sent, must survive the wire: encoded as one protocol
/// line and decoded again it is the same message. Otherwise one side accepts what the other cannot read.
public enum WireCheck {
    public static func requireSurvives(_ message: AgentMessage) {
        requireSurvives(message) { try AgentWire.decodeAgentMessage($0) }
    }

    public static func requireSurvives(_ message: ControllerMessage) {
        requireSurvives(message) { try AgentWire.decodeControllerMessage($0) }
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
