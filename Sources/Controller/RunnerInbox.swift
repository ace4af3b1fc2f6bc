import ControllerAPI
import Foundation
import RingmasterModel

/// The runner loop's queue: inputs posted from any thread or task (never blocking), taken by the loop's
/// own thread, which waits at most until its next timer. Keeps the loop's store writes and file work off
/// the cooperative pool.
final class RunnerInbox: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [RunnerInput] = []
    private var head = 0
    private var closed = false

    func post(_ input: RunnerInput) {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else {
            Self.refuse(input)
            return
        }
        queue.append(input)
        condition.signal()
    }

    /// Whether nothing is waiting to be taken.
    var isEmpty: Bool {
        condition.lock()
        defer { condition.unlock() }
        return head == queue.count
    }

    /// The next input, or nil when none came within `seconds`.
    func take(within seconds: TimeInterval?) -> RunnerInput? {
        let deadline = seconds.map { Date(timeIntervalSinceNow: $0) }
        condition.lock()
        defer { condition.unlock() }
        while head == queue.count {
            if let deadline {
                guard condition.wait(until: deadline) || head < queue.count else { return nil }
            } else {
                condition.wait()
            }
        }
        let input = queue[head]
        head += 1
        if head > 1024, head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
        return input
    }

    /// No more inputs: requests still queued or posted later are answered "shutting down".
    func close() {
        condition.lock()
        closed = true
        let left = queue[head...]
        queue = []
        head = 0
        condition.unlock()
        left.forEach(Self.refuse)
    }

    private static func refuse(_ input: RunnerInput) {
        let down = APIErrorBody(error: "the controller is shutting down")
        switch input {
        case .cancel(_, let reply): reply.resume(returning: .failure(down))
        case .release(_, let reply): reply.resume(returning: .failure(down))
        case .chaos(_, _, let reply): reply.resume(returning: .failure(down))
        default: break
        }
    }
}
