import Foundation
import RingmasterModel
import SystemUtilities

/// `ringmaster bench checkpoint`: save and restore throughput of one rank's shard, beside `dd` writing
/// the same bytes with fsync on the same disk.
public struct CheckpointBenchmark: Sendable {
    public struct Result: Codable, Sendable {
        public var bytes: Int
        public var saveSeconds: Double
        public var saveGBps: Double
        public var restoreSeconds: Double
        public var restoreGBps: Double
        public var ddSeconds: Double?
        public var ddGBps: Double?
        /// save throughput ÷ dd throughput.
        public var ratioToDd: Double?
    }

    public var bytes: Int
    public var tensors: Int

    public init(bytes: Int, tensors: Int) {
        self.bytes = bytes
        self.tensors = tensors
    }

    public func run(in directory: String) throws -> Result {
        let dir = "\(directory)/ringmaster-bench-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let per = bytes / tensors
        var blobs: [String: Data] = [:]
        for i in 0..<tensors {
            blobs["tensor-\(i)"] = Data((0..<per).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i) })
        }
        let snapshot = CheckpointSnapshot(step: 1, blobs: blobs, dataPosition: 0, rngState: [0])
        let ckpt = Checkpointer(.init(directory: dir, rank: 0, worldSize: 2, async: false))
        let clock = ContinuousClock()
        var start = clock.now
        try ckpt.save(snapshot)
        let save = (clock.now - start).seconds
        start = clock.now
        let restored = try ckpt.load(step: 1)
        let restore = (clock.now - start).seconds
        guard restored.byteCount == snapshot.byteCount else { throw CheckpointError.corrupt(step: 1, file: dir) }
        let dd = ddSeconds(path: "\(dir)/dd.bin", bytes: per * tensors)
        let total = Double(per * tensors)
        return Result(
            bytes: per * tensors, saveSeconds: save, saveGBps: total / save / 1e9, restoreSeconds: restore,
            restoreGBps: total / restore / 1e9, ddSeconds: dd, ddGBps: dd.map { total / $0 / 1e9 },
            ratioToDd: dd.map { $0 / save })
    }

    /// `dd if=/dev/zero of=PATH bs=1M count=N conv=fsync`, timed; nil if dd is unavailable.
    private func ddSeconds(path: String, bytes: Int) -> Double? {
        let argv = ["/bin/dd", "if=/dev/zero", "of=\(path)", "bs=1M", "count=\(max(1, bytes >> 20))", "conv=fsync"]
        let clock = ContinuousClock()
        let start = clock.now
        guard let pid = try? POSIX.spawn(argv, stdout: .devNull, stderr: .devNull), POSIX.wait(pid) == .exited(0) else { return nil }
        return (clock.now - start).seconds
    }
}
