import Foundation

/// Loads one rank's shard and verifies every file against the manifest's sizes and SHA-256 sums.
struct ShardReader {
    var layout: CheckpointLayout
    var rank: Int

    func read(step: Int) throws(CheckpointError) -> CheckpointSnapshot {
        let dir = layout.rankDirectory(step: step, rank: rank)
        let manifestPath = "\(dir)/MANIFEST.json"
        guard let json = FileManager.default.contents(atPath: manifestPath) else {
            if FileManager.default.fileExists(atPath: dir) { throw .corrupt(step: step, file: manifestPath) }
            throw .missing(step: step, rank: rank, dir: layout.directory)
        }
        guard let manifest = try? JSONDecoder().decode(ShardManifest.self, from: json), manifest.step == step,
              manifest.rank == rank
        else { throw .corrupt(step: step, file: manifestPath) }
        var blobs: [String: Data] = [:]
        for file in manifest.files {
            let path = "\(dir)/\(ShardWriter.fileName(for: file.name))"
            guard let data = FileManager.default.contents(atPath: path), data.count == file.bytes,
                  ShardWriter.sha256(data) == file.sha256
            else { throw .corrupt(step: step, file: path) }
            blobs[file.name] = data
        }
        return CheckpointSnapshot(step: step, blobs: blobs, dataPosition: manifest.dataPosition,
                                  rngState: manifest.rngState)
    }
}
