import Foundation
import RingmasterModel

/// `ringmaster bench store`: event insert throughput on a real file with the production configuration.
public struct StoreBenchmark: Sendable {
    public struct Result: Codable, Sendable {
        public var mode: String
        public var events: Int
        public var batchSize: Int
        public var seconds: Double
        public var eventsPerSecond: Double
    }

    public var events: Int
    public var batchSize: Int

    public init(events: Int, batchSize: Int) {
        self.events = events
        self.batchSize = batchSize
    }

    /// Runs single-row transactions, then batched transactions, each on a fresh database in `directory`.
    public func run(in directory: String) throws -> [Result] {
        [try measure(directory: directory, batch: 1), try measure(directory: directory, batch: batchSize)]
    }

    private func measure(directory: String, batch: Int) throws -> Result {
        let path = "\(directory)/bench-\(batch)-\(UUID().uuidString).db"
        defer {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        let store = try RingmasterStore.open(path: path)
        let payload = EventRecord.payload(["step": 1234, "rank": 7])
        let now = Date()
        func event(_ i: Int) -> EventRecord {
            EventRecord(time: now, kind: .rankStarted, rank: i % 64, message: "benchmark event \(i)", payload: payload)
        }
        let clock = ContinuousClock()
        let start = clock.now
        var written = 0
        while written < events {
            let n = min(batch, events - written)
            if n == 1 {
                try store.recordEvent(event(written))
            } else {
                try store.recordEvents((written..<(written + n)).map(event))
            }
            written += n
        }
        let seconds = (clock.now - start).seconds
        let stored = try store.eventCount()
        guard stored == events else { throw BenchmarkError(message: "wrote \(events) events, found \(stored)") }
        return Result(mode: batch == 1 ? "single-row transactions" : "batched inserts", events: events,
                      batchSize: batch, seconds: seconds, eventsPerSecond: Double(events) / seconds)
    }
}

struct BenchmarkError: Error, CustomStringConvertible {
    var message: String
    var description: String { "store benchmark: \(message)" }
}
