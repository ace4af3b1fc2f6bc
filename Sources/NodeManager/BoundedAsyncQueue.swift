import Foundation
import Synchronization

/// A multi-producer, single-consumer queue with a capacity: producers are threads (transport readers) that
/// block when it is full, which pushes back to the agent and keeps memory bounded; the consumer is async.
public final class BoundedAsyncQueue<Element: Sendable>: AsyncSequence, Sendable {
    private struct State {
        var buffer: [Element] = []
        var head = 0
        var consumer: CheckedContinuation<Element?, Never>?
        var blockedProducers: [DispatchSemaphore] = []
        var finished = false
        var cost = 0
        var count: Int { buffer.count - head }
    }

    private enum Step {
        case done(Bool)
        case resume(CheckedContinuation<Element?, Never>)
        case wait(DispatchSemaphore)
    }

    /// Total cost the queue holds before producers block (an element always fits into an empty queue).
    public let capacity: Int
    private let cost: @Sendable (Element) -> Int
    private let state = Mutex(State())

    /// `cost` weighs elements (e.g. bytes of a log batch); by default each costs 1.
    public init(capacity: Int, cost: @escaping @Sendable (Element) -> Int = { _ in 1 }) {
        precondition(capacity > 0)
        self.capacity = capacity
        self.cost = cost
    }

    /// Enqueues `element`, blocking the calling thread while the queue is full (never call from a task).
    /// With `dropIfFull` it returns false instead of blocking. False as well once finished.
    @discardableResult
    public func send(_ element: Element, dropIfFull: Bool = false) -> Bool {
        let weight = cost(element)
        while true {
            let step = state.withLock { s -> Step in
                if s.finished { return .done(false) }
                if let c = s.consumer {
                    s.consumer = nil
                    return .resume(c)
                }
                if s.count == 0 || s.cost + weight <= capacity {
                    s.buffer.append(element)
                    s.cost += weight
                    return .done(true)
                }
                if dropIfFull { return .done(false) }
                let sem = DispatchSemaphore(value: 0)
                s.blockedProducers.append(sem)
                return .wait(sem)
            }
            switch step {
            case .done(let ok): return ok
            case .resume(let c):
                c.resume(returning: element)
                return true
            case .wait(let sem): sem.wait()
            }
        }
    }

    /// Ends the queue: the consumer gets what is buffered, then nil; blocked producers return false.
    public func finish() {
        let (consumer, producers) = state.withLock { s -> (CheckedContinuation<Element?, Never>?, [DispatchSemaphore]) in
            s.finished = true
            let c = s.count == 0 ? s.consumer : nil
            if c != nil { s.consumer = nil }
            let p = s.blockedProducers
            s.blockedProducers.removeAll()
            return (c, p)
        }
        consumer?.resume(returning: nil)
        producers.forEach { $0.signal() }
    }

    public var bufferedCount: Int { state.withLock { $0.count } }
    /// Total cost of what is buffered (never above `capacity` but for one oversized element).
    public var bufferedCost: Int { state.withLock { $0.cost } }

    func next() async -> Element? {
        await withCheckedContinuation { (c: CheckedContinuation<Element?, Never>) in
            let (value, wake, resumeNow) = state.withLock { s -> (Element?, [DispatchSemaphore], Bool) in
                if s.count > 0 {
                    let v = s.buffer[s.head]
                    s.head += 1
                    s.cost -= cost(v)
                    if s.head > 1024, s.head * 2 > s.buffer.count {
                        s.buffer.removeFirst(s.head)
                        s.head = 0
                    }
                    // Wake every blocked producer: each re-checks whether its element fits now.
                    let w = s.blockedProducers
                    s.blockedProducers.removeAll()
                    return (v, w, true)
                }
                if s.finished { return (nil, [], true) }
                s.consumer = c
                return (nil, [], false)
            }
            wake.forEach { $0.signal() }
            if resumeNow { c.resume(returning: value) }
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let queue: BoundedAsyncQueue
        public mutating func next() async -> Element? { await queue.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(queue: self) }
}
