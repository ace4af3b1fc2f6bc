import Foundation
import SystemUtilities
import Testing
@testable import Collectives

/// Runs `body(rank)` for every rank on its own thread (collective operations block, so they
/// must never run on the cooperative pool) and returns each rank's result.
func onRankThreads<T: Sendable>(_ n: Int, _ body: @escaping @Sendable (Int) throws -> T) async -> [Result<T, any Error>] {
    await withCheckedContinuation { (continuation: CheckedContinuation<[Result<T, any Error>], Never>) in
        let box = ResultBox<T>(count: n, continuation: continuation)
        for r in 0..<n {
            runOnDedicatedThread(name: "rank \(r)") { box.set(r, Result { try body(r) }) }
        }
    }
}

private final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<T, any Error>?]
    private var remaining: Int
    private let continuation: CheckedContinuation<[Result<T, any Error>], Never>

    init(count: Int, continuation: CheckedContinuation<[Result<T, any Error>], Never>) {
        results = Array(repeating: nil, count: count)
        remaining = count
        self.continuation = continuation
    }

    func set(_ i: Int, _ r: Result<T, any Error>) {
        lock.lock()
        results[i] = r
        remaining -= 1
        let done = remaining == 0
        lock.unlock()
        if done { continuation.resume(returning: results.map { $0! }) }
    }
}

/// World groups of `n` thread-ranks over the in-process fake network.
func localGroups(_ n: Int, options: GroupOptions = GroupOptions()) -> [ProcessGroup] {
    let hub = LocalHub(worldSize: n)
    return (0..<n).map { ProcessGroup(connector: hub.connector(rank: $0), options: options) }
}

extension Result {
    var error: Failure? {
        if case .failure(let e) = self { return e }
        return nil
    }
}

