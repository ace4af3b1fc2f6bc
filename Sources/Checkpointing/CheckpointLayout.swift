/// Where a checkpoint lives: `<dir>/step-<N>/rank-<R>/…` and `<dir>/step-<N>/COMMITTED`.
public struct CheckpointLayout: Hashable, Sendable {
    public var directory: String

    public init(directory: String) { self.directory = directory }

    public func stepDirectory(_ step: Int) -> String { "\(directory)/step-\(step)" }
    public func rankDirectory(step: Int, rank: Int) -> String { "\(stepDirectory(step))/rank-\(rank)" }
    public func commitMarker(_ step: Int) -> String { "\(stepDirectory(step))/COMMITTED" }

    /// Steps that have a `step-<N>` directory, ascending (committed or not).
    public func steps() -> [Int] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.compactMap { name in
            guard name.hasPrefix("step-") else { return nil }
            return Int(name.dropFirst(5))
        }.sorted()
    }

    /// Steps with a `COMMITTED` marker, ascending.
    public func committedSteps() -> [Int] {
        steps().filter { FileManager.default.fileExists(atPath: commitMarker($0)) }
    }
}

import Foundation
