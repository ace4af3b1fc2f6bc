import Foundation
import RingmasterModel
import StateStore
import Synchronization

/// Wakes `events -f` followers when events are committed (a GRDB region observation on the event table),
/// so a follower reads the store only when there is something new.
public final class EventFeed: Sendable {
    private struct State {
        var waiters: [UInt64: AsyncStream<Void>.Continuation] = [:]
        var nextID: UInt64 = 0
        var closed = false
    }

    private let state = Mutex(State())
    private let observation = Mutex<EventObservation?>(nil)

    public init(store: RingmasterStore) throws {
        let o = try store.observeEvents { [weak self] in self?.notify() }
        observation.withLock { $0 = o }
    }

    /// Wakes every follower, outside the lock: a yield resumes the follower's task, which needs that task's
    /// status lock — held, when the follower's client has just gone, by the cancellation that runs the
    /// stream's termination handler, which takes this lock to remove the waiter. Yielding under the lock
    /// deadlocked the two (seen: the runner loop stuck in an event commit, an API thread in the handler).
    func notify() {
        let waiters = state.withLock { Array($0.waiters.values) }
        for w in waiters { w.yield() }
    }

    /// Ends every follower (controller shutdown).
    public func close() {
        observation.withLock { $0?.cancel() }
        // Finished outside the lock: finishing runs onTermination, which takes it.
        let waiters = state.withLock { s in
            s.closed = true
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for w in waiters { w.finish() }
    }

    /// Events after `after` (and for `job`), as they are committed, until the feed closes or the consumer
    /// stops. Subscribes before the first read, so no commit is missed between a read and the wait.
    public func follow(store: RingmasterStore, after: Int64, job: JobID?) -> AsyncThrowingStream<[EventRecord], any Error> {
        let (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let subscribed = state.withLock { s -> Bool in
            guard !s.closed else { return false }
            let id = s.nextID
            s.nextID += 1
            s.waiters[id] = wake
            wake.onTermination = { [weak self] _ in self?.state.withLock { _ = $0.waiters.removeValue(forKey: id) } }
            return true
        }
        return AsyncThrowingStream { continuation in
            let task = Task {
                var last = after
                var wakeIterator = wakeups.makeAsyncIterator()
                while !Task.isCancelled {
                    let from = last
                    let batch = try await OffPool.run { try store.events(after: from, job: job, limit: 1000) }
                    if !batch.isEmpty {
                        last = batch.last!.id!
                        continuation.yield(batch)
                        if batch.count == 1000 { continue }
                    }
                    guard subscribed, await wakeIterator.next() != nil else { break }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in
                task.cancel()
                wake.finish()
            }
        }
    }
}
