import AgentProtocol
import Foundation
import NodeManager
import RingmasterModel
import Synchronization
import SystemUtilities

/// One simulation thread and the agents it runs: commands (a channel opened, bytes from the controller, a
/// channel closed, a fault) arrive through a locked inbox; everything else — the agents, their timer heap, the
/// decoders of their output — belongs to the thread. The thread sleeps until the earliest agent is due or a
/// command arrives, hands each agent the time, and passes what it wrote to its `ChannelReader`.
final class SimulationShard: @unchecked Sendable {
    enum Command {
        case open(slot: Int, agent: SimulatedAgent, accelerators: [Accelerator], handler: @Sendable (AgentChannelEvent) -> Void)
        case bytes(slot: Int, [UInt8])
        case close(slot: Int)
        case fault(NodeID, NodeFault)
        case stop
    }

    /// One agent and the controller's view of its channel.
    struct Entry {
        var agent: SimulatedAgent
        let handler: @Sendable (AgentChannelEvent) -> Void
        var frozen = false
        var partitionedUntil: Duration?
        var scheduled: Duration?
        /// The controller closed the channel: the agent is stopping its ranks; its end is the controller's doing.
        var closedByController = false
    }

    let index: Int
    private let clock: @Sendable () -> Duration
    /// Decodes and delivers what this shard's agents write, on the controller's side.
    private let reader: ChannelReader
    private let inbox = Mutex<[Command]>([])
    private let wake = DispatchSemaphore(value: 0)

    // Owned by the shard's thread.
    private var entries: [Int: Entry] = [:]
    private var current: [NodeID: Int] = [:]
    private var heap = WakeHeap()
    private var madeDirectories = Set<String>()
    private var running = true

    init(index: Int, now: @escaping @Sendable () -> Duration) {
        self.index = index
        clock = now
        reader = ChannelReader(index: index)
    }

    func start() {
        runOnDedicatedThread(name: "sim-shard-\(index)") { [self] in run() }
    }

    func stop() {
        post(.stop)
        reader.post(.stop)
    }

    func post(_ command: Command) {
        inbox.withLock { $0.append(command) }
        wake.signal()
    }

    // MARK: The thread

    private func run() {
        while running {
            let commands = inbox.withLock { i -> [Command] in
                defer { i.removeAll(keepingCapacity: true) }
                return i
            }
            for command in commands { perform(command) }
            let now = clock()
            while let top = heap.first, top.due <= now {
                _ = heap.pop()
                guard var entry = entries[top.slot], entry.scheduled == top.due else { continue }
                entry.scheduled = nil
                if !entry.frozen { entry.agent.tick(now: now) }
                settle(top.slot, entry, now: now)
            }
            guard running else { return }
            if let next = heap.first {
                let wait = next.due - clock()
                if wait > .zero {
                    let nanos = Int(wait.components.seconds) * 1_000_000_000 + Int(wait.components.attoseconds / 1_000_000_000)
                    _ = wake.wait(timeout: .now() + .nanoseconds(nanos))
                }
            } else {
                wake.wait()
            }
        }
    }

    private func perform(_ command: Command) {
        let now = clock()
        switch command {
        case .open(let slot, var agent, let accelerators, let handler):
            if let old = current[agent.node], entries[old] != nil { deliverClose(old, .closedByController) }
            current[agent.node] = slot
            agent.begin(accelerators: accelerators, now: now)
            settle(slot, Entry(agent: agent, handler: handler), now: now)
        case .bytes(let slot, let bytes):
            guard var entry = entries[slot], !entry.frozen else { return }
            if let until = entry.partitionedUntil, now < until { return }
            entry.agent.receive(bytes, now: now)
            settle(slot, entry, now: now)
        case .close(let slot):
            guard var entry = entries[slot] else { return }
            if entry.frozen || entry.agent.exited {
                deliverClose(slot, .closedByController)
                return
            }
            entry.agent.controllerClosed(now: now)
            entry.partitionedUntil = nil
            entry.closedByController = true
            settle(slot, entry, now: now)
        case .fault(let node, let fault):
            guard let slot = current[node], var entry = entries[slot] else { return }
            switch fault {
            case .kill:
                deliverClose(slot, .endOfStream("simulated node killed"))
            case .stopAgent:
                entry.frozen = true
                entries[slot] = entry
            case .partition(let length):
                entry.partitionedUntil = now + length
                entries[slot] = entry
            }
        case .stop:
            running = false
        }
    }

    /// After an agent ran: make its checkpoint folders, deliver its output (unless a partition swallows it),
    /// end its channel when it exited, and reschedule it.
    private func settle(_ slot: Int, _ entry: Entry, now: Duration) {
        var entry = entry
        for dir in entry.agent.takeStepDirectories() where !madeDirectories.contains(dir) {
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            if madeDirectories.count > 100_000 { madeDirectories.removeAll() }
            madeDirectories.insert(dir)
        }
        let output = entry.agent.takeOutput()
        let cut = entry.partitionedUntil.map { now < $0 } ?? false
        if !output.isEmpty, !cut { reader.post(.bytes(slot: slot, handler: entry.handler, output)) }
        if entry.agent.exited, !cut || entry.closedByController {
            entries[slot] = entry
            let detail = entry.agent.log.last.map { "simulated agent exited: \($0)" } ?? "simulated agent exited"
            deliverClose(slot, entry.closedByController ? .closedByController : .endOfStream(detail))
            return
        }
        // A frozen agent is never due: it would be due at once again, and again (its time does not move).
        if !entry.frozen, let next = entry.agent.nextWake, next != entry.scheduled {
            entry.scheduled = next
            heap.push(next, slot)
        }
        entries[slot] = entry
    }

    private func deliverClose(_ slot: Int, _ reason: ChannelCloseReason) {
        guard let entry = entries.removeValue(forKey: slot) else { return }
        if current[entry.agent.node] == slot { current[entry.agent.node] = nil }
        reader.post(.closed(slot: slot, handler: entry.handler, reason))
    }
}
