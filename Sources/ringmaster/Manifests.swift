import ArgumentParser
import JobManifest
import RingmasterModel

/// Loading of the files named on the command line; every error of every file is printed together.
enum Manifests {
    static func job(_ path: String) -> Result<LoadedManifest<JobSpec>, ManifestErrors> {
        do { return .success(try JobManifestLoader.load(path: path)) } catch { return .failure(error) }
    }

    static func cluster(_ path: String) -> Result<LoadedManifest<ClusterInventory>, ManifestErrors> {
        do { return .success(try ClusterInventoryLoader.load(path: path)) } catch { return .failure(error) }
    }

    /// Prints the errors to stderr and exits 65.
    static func fail(_ errors: [ManifestError]) -> ExitCode {
        Output.error(ManifestErrors(errors).description)
        return .invalidManifest
    }
}
