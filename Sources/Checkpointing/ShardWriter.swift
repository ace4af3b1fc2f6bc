import Crypto
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes one rank's shard of a step so that it is either complete or absent: files go into a
/// hidden `.rank-R.partial-…` folder (each temp → fsync → rename), the manifest of SHA-256 sums last,
/// then the folder is renamed to `rank-R` and the step folder fsynced.
struct ShardWriter {
    var layout: CheckpointLayout
    var rank: Int
    var worldSize: Int
    /// Called after each blob file is durable (tests stop a process here to crash mid-write).
    var afterFile: @Sendable (String) -> Void = { _ in }

    /// A write that fails (a full disk) removes what it wrote: the hidden partial folder, and the step folder
    /// when nothing else is in it. The shard is then absent, never half there, and its space is free again.
    func write(_ snapshot: CheckpointSnapshot) throws(CheckpointError) {
        let stepDir = layout.stepDirectory(snapshot.step)
        let partial = "\(stepDir)/.rank-\(rank).partial-\(UUID().uuidString.prefix(8))"
        do {
            try write(snapshot, into: partial, stepDir: stepDir)
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            rmdir(stepDir)  // only when empty: other ranks' shards of the step stay
            throw error
        }
    }

    private func write(_ snapshot: CheckpointSnapshot, into partial: String, stepDir: String) throws(CheckpointError) {
        try DurableFile.makeDirectory(stepDir)
        try DurableFile.makeDirectory(partial)
        var files: [ShardManifest.File] = []
        for name in snapshot.blobs.keys.sorted() {
            let data = snapshot.blobs[name]!
            let file = Self.fileName(for: name)
            try DurableFile.write(data, to: "\(partial)/\(file)")
            files.append(ShardManifest.File(name: name, bytes: data.count, sha256: Self.sha256(data)))
            afterFile(file)
        }
        let manifest = ShardManifest(step: snapshot.step, rank: rank, worldSize: worldSize, files: files,
                                     dataPosition: snapshot.dataPosition, rngState: snapshot.rngState)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let json: Data
        do { json = try encoder.encode(manifest) } catch { throw .writeFailed(path: partial, errno: EINVAL) }
        try DurableFile.write(json, to: "\(partial)/MANIFEST.json")
        try DurableFile.syncDirectory(partial)
        try publish(partial, as: layout.rankDirectory(step: snapshot.step, rank: rank))
        try DurableFile.syncDirectory(stepDir)
    }

    /// Renames the finished folder into place, replacing a shard an earlier attempt wrote for the same step.
    private func publish(_ partial: String, as final: String) throws(CheckpointError) {
        if FileManager.default.fileExists(atPath: final) {
            let old = "\(final).old-\(UUID().uuidString.prefix(8))"
            guard rename(final, old) == 0 else { throw .writeFailed(path: final, errno: errno) }
            try? FileManager.default.removeItem(atPath: old)
        }
        guard rename(partial, final) == 0 else { throw .writeFailed(path: final, errno: errno) }
    }

    /// Blob names become file names; anything but letters, digits, '.', '_' and '-' is escaped.
    static func fileName(for name: String) -> String {
        var out = ""
        for scalar in name.unicodeScalars {
            if scalar.isASCII, CharacterSet.alphanumerics.contains(scalar) || "._-".unicodeScalars.contains(scalar) {
                out.unicodeScalars.append(scalar)
            } else {
                out += String(format: "%%%02X", scalar.value)
            }
        }
        return out + ".bin"
    }

    static func sha256(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
}
