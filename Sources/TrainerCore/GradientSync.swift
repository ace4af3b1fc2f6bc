import Foundation

/// Averages gradients over the data-parallel group on a dedicated thread while the backward pass
/// goes on: each bucket (a block's parameters, the head, the embeddings) is handed over as soon as
/// its gradients are final, and `finish` waits for all of them. Buckets are reduced in the order
/// they were handed over, which is the same on every replica, so the result is deterministic.
final class GradientSync: @unchecked Sendable {
    private let group: any Communicator
    private let condition = NSCondition()
    private var queue: [[Parameter]] = []
    private var pending = 0
    private var failure: (any Error)?
    private var closed = false

    init(group: any Communicator) {
        self.group = group
        let thread = Thread { [weak self] in self?.loop() }
        thread.name = "gradient-sync"
        thread.start()
    }

    /// Hands over a bucket whose gradients this step will not touch again.
    func enqueue(_ bucket: [Parameter]) {
        guard !bucket.isEmpty else { return }
        condition.lock()
        queue.append(bucket)
        pending += 1
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until every bucket handed over has been averaged; throws the first failure.
    func finish() throws {
        condition.lock()
        defer { condition.unlock() }
        while pending > 0 && failure == nil { condition.wait() }
        if let failure { throw failure }
    }

    /// Ends the sync thread once the queue is empty (the owner calls this when it goes away).
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !closed { condition.wait() }
            guard !queue.isEmpty else {
                condition.unlock()
                return
            }
            let bucket = queue.removeFirst()
            condition.unlock()
            var error: (any Error)?
            do { try average(bucket) } catch let e { error = e }
            condition.lock()
            pending -= 1
            if let error, failure == nil { failure = error }
            condition.broadcast()
            condition.unlock()
        }
    }

    private func average(_ bucket: [Parameter]) throws {
        var flat = bucket.flatMap(\.grad)
        try group.allReduceSum(&flat)
        let inverse = 1 / Float(group.size)
        var offset = 0
        for p in bucket {
            for i in p.grad.indices { p.grad[i] = flat[offset + i] * inverse }
            offset += p.grad.count
        }
    }
}
