import FuzzSupport
import JobManifest
import ManifestFuzzSupport

/// Job manifest loading: a manifest file's bytes through `JobManifestLoader.parse`, where `submit`, `run`,
/// `place`, `plan` and the controller's validation all end (the promises are `ManifestChecks`'). A job
/// that loads has ranks.
@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    // A file that is not UTF-8 is refused before parsing (`ManifestSource.read`); API bodies reach
    // the parser with any text (fuzz-api-bodies).
    guard let text = String(validating: Fuzzer.bytes(data, size), as: UTF8.self) else { return 0 }
    if let loaded = ManifestChecks.load(text, file: "/fuzz/job.yaml", with: JobManifestLoader.parse) {
        Fuzzer.require(loaded.value.parallelism.worldSize >= 1, "a valid job has ranks")
    }
    return 0
}
