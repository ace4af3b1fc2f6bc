import Foundation

/// What the controller uploads to SSH hosts must run where no Swift toolchain is installed: the agent
/// executable and the C ABI library are checked before any upload, and one that needs the Swift runtime's
/// shared libraries (a build without `-static-stdlib`) is refused, naming the file.
public enum DeployableBuild {
    public struct Refused: Error, CustomStringConvertible {
        public var file: String
        public var role: String
        public var reason: String
        public var description: String {
            "\(role) \(file) cannot be uploaded to SSH hosts: \(reason) — hint: build it with its Swift runtime linked in " +
                "(`swift build -c release` does for ringmaster-agent and libRingmasterC.so; `make agent` and `make cabi` too), " +
                "or point --agent / RINGMASTER_AGENT at such a build"
        }
    }

    /// Throws `Refused` when `file` is not an ELF file or needs a library of the Swift runtime.
    public static func check(_ file: String, role: String) throws(Refused) {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw Refused(file: file, role: role, reason: "it cannot be read")
        }
        let dependencies: ELFDependencies
        do {
            dependencies = try ELFDependencies(bytes: Array(data))
        } catch {
            throw Refused(file: file, role: role, reason: "it is not a usable ELF file (\(error.reason))")
        }
        let runtime = dependencies.swiftRuntime
        guard runtime.isEmpty else {
            throw Refused(file: file, role: role, reason: "it is linked against the Swift runtime (needs \(runtime.joined(separator: ", "))), " +
                "which hosts without a Swift toolchain lack")
        }
    }
}
