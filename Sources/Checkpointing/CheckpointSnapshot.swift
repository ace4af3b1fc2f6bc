import Foundation

/// Everything one rank needs to continue exactly where it stopped: named tensors or blobs, the
/// data-loader position (global sample cursor) and the RNG state.
public struct CheckpointSnapshot: Hashable, Sendable {
    public var step: Int
    /// Named byte blobs (tensors in their in-memory layout, optimizer moments, …), written one file each.
    public var blobs: [String: Data]
    /// Global sample cursor of the data loader after `step`.
    public var dataPosition: UInt64
    /// Generator state words.
    public var rngState: [UInt64]

    public init(step: Int, blobs: [String: Data], dataPosition: UInt64, rngState: [UInt64]) {
        self.step = step
        self.blobs = blobs
        self.dataPosition = dataPosition
        self.rngState = rngState
    }

    /// Copies a tensor's elements into a blob (the snapshot taken on the training thread).
    public static func blob<T: BitwiseCopyable>(_ values: [T]) -> Data {
        values.withUnsafeBytes { Data($0) }
    }

    /// Reads a blob back into elements of `T`.
    public static func values<T: BitwiseCopyable>(_ data: Data, as: T.Type) -> [T] {
        let count = data.count / MemoryLayout<T>.stride
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            _ = data.copyBytes(to: UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }

    public var byteCount: Int { blobs.values.reduce(0) { $0 + $1.count } }
}

/// The per-rank manifest (`MANIFEST.json`): every file with its size and SHA-256, plus the small state.
struct ShardManifest: Codable, Hashable {
    struct File: Codable, Hashable {
        var name: String
        var bytes: Int
        var sha256: String
    }

    var step: Int
    var rank: Int
    var worldSize: Int
    var files: [File]
    var dataPosition: UInt64
    var rngState: [UInt64]
}
