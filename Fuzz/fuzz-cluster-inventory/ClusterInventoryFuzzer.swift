import FuzzSupport
import JobManifest
import ManifestFuzzSupport
import RingmasterModel

/// Cluster inventory loading: an inventory file's bytes through `ClusterInventoryLoader.parse`, where the
/// controller, `ringmaster run`, `place` and `nodes` all end (the promises are `ManifestChecks`'). An
/// inventory that loads has nodes, each named once.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    // A file that is not UTF-8 is refused before parsing (`ManifestSource.read`).
    guard let text = String(validating: Fuzzer.bytes(data, size), as: UTF8.self) else { return 0 }
    if let loaded = ManifestChecks.load(text, file: "/fuzz/cluster.yaml", with: ClusterInventoryLoader.parse) {
        let nodes = loaded.value.nodes
        Fuzzer.require(!nodes.isEmpty, "a valid inventory has nodes")
        Fuzzer.require(Set(nodes.map(\.id)).count == nodes.count, "node names are unique: \(nodes.map(\.id))")
    }
    return 0
}
