import ControllerAPI
import Foundation
import FuzzSupport
import JobManifest
import ManifestFuzzSupport
import Planning
import RingmasterModel

/// API request bodies: the input as the body of `POST /v1/jobs` and of `POST /v1/jobs/{id}/chaos`, read as
/// the controller's routes read them (`SubmitRequest(body:)`, `ChaosRequest(body:)`), and a submission
/// taken as far as the route takes it before the store: the manifest validated (`JobManifestLoader.parse`)
/// and placed on the cluster's nodes to see whether it could ever run (`Placer`, what `JobRunner.neverFits`
/// asks). Whatever the body, the answer is a request or an error; a request reads back the same from its
/// own encoding, and the manifest keeps `ManifestChecks`' promises with the path the client sent.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let body = Fuzzer.bytes(data, size)
    if let submit = try? SubmitRequest(body: body) {
        requireReadsBack(submit, as: SubmitRequest.init(body:))
        if let loaded = ManifestChecks.load(submit.manifest, file: submit.path, with: JobManifestLoader.parse) {
            let slots = cluster.nodes.map { NodeSlots(node: $0, resources: loaded.value.resources) }
            if let placement = try? Placer(job: loaded.value).place(on: slots) {
                Fuzzer.require(placement.ranks.count == loaded.value.parallelism.worldSize, "a placement without every rank")
            }
        }
    }
    if let chaos = try? ChaosRequest(body: body) { requireReadsBack(chaos, as: ChaosRequest.init(body:)) }
    return 0
}

/// The local cluster of `Manifests/clusters/local.yaml` with a spare: 4 + 1 nodes of 2 accelerators.
let cluster = try! ClusterInventoryLoader.parse(
    "name: fuzz\nlocal: {nodes: 4, accelerators: 2, spares: 1}\n", file: "/fuzz/cluster.yaml").value

/// The request encoded as a client sends it reads back as the same request (the same encoding again).
func requireReadsBack<Request: Encodable>(_ request: Request, as read: (Data) throws -> Request) {
    let encoder = APICoding.encoder()
    let sent = try! encoder.encode(request)
    let back = try? read(sent)
    Fuzzer.require(back.flatMap { try? encoder.encode($0) } == sent, "\(Request.self) \(request) does not read back")
}
