import JobManifest
import RingmasterModel
import Testing

/// Parses `yaml` as a job manifest at a fixed path and returns its errors' printed lines.
func jobErrors(_ yaml: String, file: String = "/manifests/job.yaml") -> [String] {
    do {
        _ = try JobManifestLoader.parse(yaml, file: file)
        return []
    } catch {
        return error.errors.map(\.description)
    }
}

func inventoryErrors(_ yaml: String, file: String = "/manifests/cluster.yaml") -> [String] {
    do {
        _ = try ClusterInventoryLoader.parse(yaml, file: file)
        return []
    } catch {
        return error.errors.map(\.description)
    }
}

func parseJob(_ yaml: String, file: String = "/manifests/job.yaml") throws -> JobSpec {
    try JobManifestLoader.parse(yaml, file: file).value
}
