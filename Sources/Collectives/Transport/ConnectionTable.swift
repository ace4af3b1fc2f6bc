import Foundation
import SystemUtilities

/// Accepted, authenticated connections waiting for their group to claim them, keyed by
/// (group, peer world rank). The accepting thread deposits; the operation thread claims,
/// blocking (on a condition variable, not spinning) until the deadline.
final class ConnectionTable: @unchecked Sendable {
    private let condition = PosixCondition()
    private var ready: [String: Int32] = [:]
    private var closed = false

    private static func key(_ group: String, _ peer: Int) -> String { "\(group)|\(peer)" }

    /// False when a connection for the same (group, peer) is already waiting.
    func deposit(group: String, peer: Int, fd: Int32) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let k = Self.key(group, peer)
        guard !closed, ready[k] == nil else { return false }
        ready[k] = fd
        condition.broadcast()
        return true
    }

    func claim(group: String, peer: Int, deadline: Deadline) -> Int32? {
        let k = Self.key(group, peer)
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let fd = ready.removeValue(forKey: k) { return fd }
            if closed { return nil }
            let left = Double(deadline.pollTimeout()) / 1000
            if left <= 0 { return nil }
            condition.wait(seconds: left)
        }
    }

    func close() -> [Int32] {
        condition.lock()
        defer { condition.unlock() }
        closed = true
        condition.broadcast()
        let fds = Array(ready.values)
        ready = [:]
        return fds
    }
}
