import Foundation

/// Executables built next to the test bundle (`swift build --build-tests` builds them all).
public enum BuiltProducts {
    /// The build products folder: where the running test binary lives.
    public static var directory: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return (exe as NSString).deletingLastPathComponent
    }

    public struct Missing: Error, CustomStringConvertible {
        public var path: String
        public var description: String { "\(path) is not built — run `swift build --build-tests` (make test does)" }
    }

    public static func executable(_ name: String) throws -> String {
        let path = (directory as NSString).appendingPathComponent(name)
        guard FileManager.default.isExecutableFile(atPath: path) else { throw Missing(path: path) }
        return path
    }

    /// Root of the package (for the shipped manifests): the folder holding Package.swift above the build folder.
    public static var packageRoot: String {
        var dir = directory
        while dir != "/" {
            if FileManager.default.fileExists(atPath: (dir as NSString).appendingPathComponent("Package.swift")) {
                return dir
            }
            dir = (dir as NSString).deletingLastPathComponent
        }
        return FileManager.default.currentDirectoryPath
    }
}
