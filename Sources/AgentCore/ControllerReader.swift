import AgentProtocol

/// The controller's side of the channel: bytes in any split → controller messages, one line each.
/// The first malformed or overlong line is a protocol violation; after it (or after `close`) nothing is read.
public struct ControllerReader: Sendable {
    public enum Next: Hashable, Sendable {
        case message(ControllerMessage)
        /// No complete line yet.
        case none
        /// The text of the violation (it goes to the controller as an `error` message).
        case violation(String)
    }

    private var framer: LineFramer
    public private(set) var isOpen = true

    public init(maxLineBytes: Int = AgentWire.maxLineBytes) {
        framer = LineFramer(maxLineBytes: maxLineBytes)
    }

    public mutating func append(_ bytes: [UInt8]) {
        guard isOpen else { return }
        framer.append(bytes)
    }

    public mutating func close() {
        isOpen = false
        framer = LineFramer(maxLineBytes: framer.maxLineBytes)
    }

    public mutating func next() -> Next {
        guard isOpen else { return .none }
        let line: ArraySlice<UInt8>
        do {
            guard let l = try framer.nextLine() else { return .none }
            line = l
        } catch {
            close()
            return .violation("\(error)")
        }
        do {
            return .message(try AgentWire.decodeControllerMessage(line))
        } catch {
            close()
            return .violation("malformed controller message: \(error)")
        }
    }
}
