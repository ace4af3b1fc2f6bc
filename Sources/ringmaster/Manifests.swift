import ArgumentParser
import Foundation
import JobManifest
import RingmasterModel

/// Loading of the files named on the command line; every error of every file is printed together.
enum Manifests {
    static func job(_ path: String) -> Result<LoadedManifest<JobSpec>, ManifestErrors> {
        do { return .success(try JobManifestLoader.load(path: path)) } catch { return .failure(error) }
    }

    static func cluster(_ path: String) -> Result<LoadedManifest<ClusterInventory>, ManifestErrors> {
        if path == ClusterInventoryLoader.slurmHere, !FileManager.default.fileExists(atPath: path) {
            do { return .success(try ClusterInventoryLoader.slurmHere(environment: ProcessInfo.processInfo.environment)) } catch {
                return .failure(error)
            }
        }
        do { return .success(try ClusterInventoryLoader.load(path: path)) } catch { return .failure(error) }
    }

    /// Loads a job and a cluster inventory; the errors of both files are printed together (exit 65).
    static func jobAndCluster(_ job: String, _ cluster: String) throws
        -> (LoadedManifest<JobSpec>, LoadedManifest<ClusterInventory>)
    {
        let jobResult = Self.job(job)
        let clusterResult = Self.cluster(cluster)
        var errors: [ManifestError] = []
        if case .failure(let e) = jobResult { errors += e.errors }
        if case .failure(let e) = clusterResult { errors += e.errors }
        guard case .success(let spec) = jobResult, case .success(let inventory) = clusterResult else {
            throw fail(errors)
        }
        return (spec, inventory)
    }

    /// Prints the errors to stderr and exits 65.
    static func fail(_ errors: [ManifestError]) -> ExitCode {
        Output.error(ManifestErrors(errors).description)
        return .invalidManifest
    }
}
