import SystemUtilities

/// Where the API's blocking work runs — store reads, building views, encoding JSON, reading log files,
/// validating a manifest: a thread of its own per request, never the cooperative pool. The pool has as
/// many threads as cores (two here) and carries the node manager's heartbeat timer and every agent
/// message on its way to the runner; handlers that blocked it (eight clients listing a thousand jobs while
/// a job trained) held step reports back for seconds, and the job was declared hung. A thread per request
/// (not a queue of a few) also lets a small request finish beside heavy ones instead of behind them.
enum OffPool {
    static func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await onDedicatedThread(name: "api request", work)
    }
}
