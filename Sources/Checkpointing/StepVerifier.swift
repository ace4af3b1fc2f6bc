import Crypto
import Foundation

/// What verifying one step folder (`step-N/`) found: its commit marker, its rank shards, their bytes and
/// the verdict. Shards written by any language in the shard format (the Swift library, the Python
/// package) verify alike: each `rank-R/MANIFEST.json` names every file with its size and SHA-256.
public struct StepVerification: Hashable, Sendable {
    public enum Verdict: Error, Hashable, Sendable, CustomStringConvertible {
        case ok
        /// A file is missing, truncated or its sum differs (the first one found).
        case corrupt(file: String, why: String)
        /// Ranks of the committed world size have no shard.
        case missingRanks([Int])

        public var description: String {
            switch self {
            case .ok: "ok"
            case .corrupt(let file, let why): "corrupt: \(file): \(why)"
            case .missingRanks(let ranks): "incomplete: no shard of rank\(ranks.count == 1 ? "" : "s") \(ranks.map(String.init).joined(separator: ", "))"
            }
        }
    }

    public var step: Int
    public var directory: String
    /// The `COMMITTED` marker, when the step has one.
    public var marker: CommitMarker.Marker?
    public var ranks: [Int]
    public var bytes: Int
    public var verdict: Verdict

    public var committed: Bool { marker != nil }
    public var isValid: Bool { verdict == .ok }
}

/// Verifies every shard of a step against its manifest, streaming each file through SHA-256 (shards can
/// be far larger than memory).
public enum StepVerifier {
    /// `directory` is a `step-N` folder.
    public static func verify(stepDirectory directory: String) -> StepVerification {
        let name = (directory as NSString).lastPathComponent
        let step = name.hasPrefix("step-") ? Int(name.dropFirst(5)) ?? -1 : -1
        let layout = CheckpointLayout(directory: (directory as NSString).deletingLastPathComponent)
        let marker = step >= 0 ? CommitMarker.read(layout, step: step) : nil
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let ranks = entries.compactMap { $0.hasPrefix("rank-") ? Int($0.dropFirst(5)) : nil }.sorted()
        var result = StepVerification(step: step, directory: directory, marker: marker, ranks: ranks, bytes: 0, verdict: .ok)
        guard step >= 0 else {
            result.verdict = .corrupt(file: directory, why: "not a step folder (its name must be step-N)")
            return result
        }
        for rank in ranks {
            switch verifyShard(layout: layout, step: step, rank: rank) {
            case .success(let bytes): result.bytes += bytes
            case .failure(let verdict):
                result.verdict = verdict
                return result
            }
        }
        let expected = marker?.worldSize ?? ranks.count
        let missing = (0..<expected).filter { !ranks.contains($0) }
        if !missing.isEmpty {
            result.verdict = .missingRanks(missing)
        } else if ranks.isEmpty {
            result.verdict = .missingRanks([0])
        }
        return result
    }

    /// Steps of a job's checkpoint folder (`step-*` inside it), ascending.
    public static func verify(checkpointDirectory directory: String) -> [StepVerification] {
        CheckpointLayout(directory: directory).steps().map { verify(stepDirectory: "\(directory)/step-\($0)") }
    }

    private static func verifyShard(layout: CheckpointLayout, step: Int, rank: Int) -> Result<Int, StepVerification.Verdict> {
        let dir = layout.rankDirectory(step: step, rank: rank)
        let manifestPath = "\(dir)/MANIFEST.json"
        guard let json = FileManager.default.contents(atPath: manifestPath) else {
            return .failure(.corrupt(file: manifestPath, why: "missing"))
        }
        guard let manifest = try? JSONDecoder().decode(ShardManifest.self, from: json) else {
            return .failure(.corrupt(file: manifestPath, why: "not a shard manifest"))
        }
        guard manifest.step == step, manifest.rank == rank else {
            return .failure(.corrupt(file: manifestPath, why: "names step \(manifest.step) rank \(manifest.rank)"))
        }
        var bytes = 0
        for file in manifest.files {
            let path = "\(dir)/\(ShardWriter.fileName(for: file.name))"
            guard let (size, sum) = hash(path) else { return .failure(.corrupt(file: path, why: "missing or unreadable")) }
            guard size == file.bytes else {
                return .failure(.corrupt(file: path, why: "\(size) bytes, the manifest says \(file.bytes)"))
            }
            guard sum == file.sha256 else { return .failure(.corrupt(file: path, why: "SHA-256 differs from the manifest")) }
            bytes += size
        }
        return .success(bytes)
    }

    /// Size and SHA-256 (hex) of a file, read in 1 MiB pieces.
    static func hash(_ path: String) -> (Int, String)? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        var hasher = SHA256()
        var size = 0
        while true {
            let piece: Data?
            do { piece = try handle.read(upToCount: 1 << 20) } catch { return nil }
            guard let chunk = piece, !chunk.isEmpty else { break }  // nil or empty at the end of the file
            size += chunk.count
            hasher.update(data: chunk)
        }
        return (size, hasher.finalize().map { String(format: "%02x", $0) }.joined())
    }
}
