import Synchronization

/// A bounded wait that ran out.
public struct TimedOut: Error, CustomStringConvertible {
    public var what: String
    public init(what: String) { self.what = what }
    public var description: String { "timed out waiting for \(what)" }
}

/// Runs `body`, failing with `TimedOut` after `limit` (real time) even when `body` does not end: it is
/// cancelled then but not waited for (a blocking read on a thread, a continuation that ignores cancellation,
/// would otherwise hold the caller — and a test run — for ever). Cancelling the caller cancels `body` and
/// ends the wait at once (`CancellationError`): a test's time limit then stops it.
public func withTimeout<T: Sendable>(_ limit: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let outcome = FirstOutcome<T>()
    let work = Task { outcome.settle(await Result(catchingAsync: body)) }
    let timer = Task {
        try await Task.sleep(for: limit)
        outcome.settle(.failure(TimedOut(what: what)))
    }
    defer {
        work.cancel()
        timer.cancel()
    }
    return try await withTaskCancellationHandler {
        try await outcome.value()
    } onCancel: {
        work.cancel()
        outcome.settle(.failure(CancellationError()))
    }
}

/// The first of several racing results; later ones are dropped.
private final class FirstOutcome<T: Sendable>: Sendable {
    private struct State {
        var result: Result<T, any Error>?
        var waiter: CheckedContinuation<T, any Error>?
    }
    private let state = Mutex(State())

    func settle(_ result: Result<T, any Error>) {
        let waiter = state.withLock { s -> CheckedContinuation<T, any Error>? in
            guard s.result == nil else { return nil }
            s.result = result
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(with: result)
    }

    func value() async throws -> T {
        try await withCheckedThrowingContinuation { c in
            let ready = state.withLock { s -> Result<T, any Error>? in
                if s.result == nil { s.waiter = c }
                return s.result
            }
            if let ready { c.resume(with: ready) }
        }
    }
}

private extension Result where Failure == any Error {
    init(catchingAsync body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

/// Checks `condition` until it holds, at most `limit`: for states outside the process (a pid gone, a file
/// written) that send no event. Bounded; the interval only paces the checks.
public func eventually(
    _ what: String, within limit: Duration = .seconds(5), every interval: Duration = .milliseconds(20),
    _ condition: @Sendable () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    while true {
        if try await condition() { return }
        guard ContinuousClock.now < deadline else { throw TimedOut(what: what) }
        try await Task.sleep(for: interval)
    }
}
