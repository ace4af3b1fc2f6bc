import Foundation

/// One dedicated thread that runs saves one at a time. `submit` blocks while a save is still in
/// flight (back-pressure), so at most one snapshot waits in memory besides the one being trained on.
/// An error of a background save is thrown by the next `submit` or `drain`.
final class BackgroundWriter: @unchecked Sendable {
    private let condition = NSCondition()
    private var pending: (@Sendable () throws -> Void)?
    private var busy = false
    private var failure: (any Error)?
    private var closed = false
    /// Called (with the lock held) when a submitter starts waiting for the save in flight; for tests.
    var onWait: @Sendable () -> Void = {}

    init(name: String) {
        let thread = Thread { [weak self] in self?.loop() }
        thread.name = name
        thread.start()
    }

    /// Queues `work`; returns how long the caller waited for the previous save to finish.
    func submit(_ work: @escaping @Sendable () throws -> Void) throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        condition.lock()
        defer { condition.unlock() }
        if busy || pending != nil { onWait() }
        while busy || pending != nil { condition.wait() }
        if let failure {
            self.failure = nil
            throw failure
        }
        guard !closed else { throw CheckpointError.closed }
        pending = work
        condition.broadcast()
        return clock.now - start
    }

    /// Waits until no save is queued or running; throws the error of a failed one.
    func drain() throws {
        condition.lock()
        defer { condition.unlock() }
        while busy || pending != nil { condition.wait() }
        if let failure {
            self.failure = nil
            throw failure
        }
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while pending == nil && !closed { condition.wait() }
            guard let work = pending else {
                condition.unlock()
                return
            }
            pending = nil
            busy = true
            condition.unlock()
            var error: (any Error)?
            do { try work() } catch let e { error = e }
            condition.lock()
            busy = false
            if let error { failure = error }
            condition.broadcast()
            condition.unlock()
        }
    }
}
