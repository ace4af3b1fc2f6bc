import AgentProtocol
import Foundation
import NodeManager
import Synchronization
import SystemUtilities

/// The controller's side of a shard's channels: one thread (`agent-rx-N`) that decodes what the shard's agents
/// wrote with the node manager's own `AgentStreamDecoder` and hands it to the node manager's handler — the work a
/// pipe's or an SSH channel's reader thread does for a real agent, so it counts as the controller's, not the
/// simulation's. Events of one channel keep their order.
final class ChannelReader: @unchecked Sendable {
    enum Item {
        case bytes(slot: Int, handler: @Sendable (AgentChannelEvent) -> Void, [UInt8])
        case closed(slot: Int, handler: @Sendable (AgentChannelEvent) -> Void, ChannelCloseReason)
        case stop
    }

    private let inbox = Mutex<[Item]>([])
    private let wake = DispatchSemaphore(value: 0)
    // Owned by the reader's thread.
    private var decoders: [Int: AgentStreamDecoder] = [:]
    private var broken = Set<Int>()

    init(index: Int) {
        runOnDedicatedThread(name: "agent-rx-\(index)") { [self] in run() }
    }

    func post(_ item: Item) {
        inbox.withLock { $0.append(item) }
        wake.signal()
    }

    private func run() {
        while true {
            wake.wait()
            let items = inbox.withLock { i -> [Item] in
                defer { i.removeAll(keepingCapacity: true) }
                return i
            }
            for item in items {
                switch item {
                case .bytes(let slot, let handler, let bytes):
                    guard !broken.contains(slot) else { continue }
                    var decoder = decoders.removeValue(forKey: slot) ?? AgentStreamDecoder()
                    for message in decoder.feed(bytes) { handler(.message(message)) }
                    if let violation = decoder.violation {
                        broken.insert(slot)
                        handler(.closed(.protocolViolation(violation)))
                    } else {
                        decoders[slot] = decoder
                    }
                case .closed(let slot, let handler, let reason):
                    decoders[slot] = nil
                    if broken.remove(slot) == nil { handler(.closed(reason)) }
                case .stop:
                    return
                }
            }
        }
    }
}
