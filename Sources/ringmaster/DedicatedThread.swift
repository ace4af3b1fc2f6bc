import Foundation

/// Runs blocking work (sockets, waitpid, collective operations) on a thread of its own, so it
/// never occupies one of the cooperative pool's few threads.
func onDedicatedThread<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.name = name
        thread.start()
    }
}
