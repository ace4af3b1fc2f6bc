import ControllerAPI
import ControllerHarness
import Foundation
import RingmasterModel
import RingmasterTestKit
import SystemUtilities
import Testing

/// The machine's CPU PyTorch wheel, if it has one.
let torchWheel: String? = {
    if let w = ProcessInfo.processInfo.environment["RINGMASTER_TORCH_WHEEL"], FileManager.default.fileExists(atPath: w) { return w }
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/opt/wheels")) ?? []
    return names.filter { $0.hasPrefix("torch-") && $0.hasSuffix(".whl") }.sorted().last.map { "/opt/wheels/\($0)" }
}()

/// A venv with torch, made once per machine by scripts/torch-venv.sh.
func torchPython() async throws -> String {
    let venv = "/var/tmp/ringmaster-torch-venv"
    try await ChildProcess.run([BuiltProducts.packageRoot + "/scripts/torch-venv.sh", venv], mergeStderr: true).check()
    return venv + "/bin/python"
}

/// An unmodified torch.distributed DDP script (env://, gloo) on 2 nodes × 2 ranks of a local cluster.
@Suite(.serialized, .timeLimit(.minutes(5)),
       .enabled(if: torchWheel != nil, "no PyTorch wheel on this machine (/opt/wheels/torch-*.whl): skipped"))
struct TorchDDPTests {
    @Test func anUnmodifiedDDPScriptTrainsOnTwoNodesOfTwoRanks() async throws {
        let python = try await torchPython()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let controller = try await ControllerProcess.start(cluster: try localCluster(dir, nodes: 2), stateDirectory: dir.file("state"))
        try await controller.waitForReadyNodes(2)
        let manifest = try dir.write("ddp.yaml", """
            name: ddp
            command: [\(python), \(manifests)/jobs/scripts/torch_ddp.py, "20"]
            env: {PYTHONUNBUFFERED: "1", OMP_NUM_THREADS: "1"}
            parallelism: {data: 4}
            """)
        let job = try await controller.submit(manifest)
        let done = try await controller.waitForJob(job.id, within: .seconds(240))
        #expect(done.state == .succeeded, "\(done.reason ?? "")")
        let detail = try await controller.detail(job.id)
        #expect(detail.ranks.map(\.node) == ["local-0", "local-0", "local-1", "local-1"])
        let logs = try await controller.cli(["logs", job.id, "--tail", "1000"]).output
        for rank in 0..<4 {
            #expect(logs.contains("[rank \(rank)] rank \(rank)/4 local \(rank % 2) on 127.0.0.1:"), "\(logs)")
        }
        #expect(logs.components(separatedBy: "parameters identical on every rank: True").count == 5)
        #expect(await controller.stop() == 0)
    }
}

/// The side-by-side benchmark scripts the README's collective numbers come from: ringmaster's
/// all-reduce and Gloo's, measured the same way and tabulated together.
@Suite(.serialized, .timeLimit(.minutes(5)),
       .enabled(if: torchWheel != nil, "no PyTorch wheel on this machine (/opt/wheels/torch-*.whl): skipped"))
struct GlooComparisonTests {
    @Test func theComparisonScriptMeasuresRingmasterAndGlooAlike() async throws {
        let python = try await torchPython()
        let root = BuiltProducts.packageRoot
        let r = try await ChildProcess.run([python, root + "/scripts/allreduce_vs_gloo.py", "--ranks", "2", "--sizes", "8,64K",
                                            "--launches", "1", "--ringmaster", try BuiltProducts.executable("ringmaster"),
                                            "--python", python], mergeStderr: true).check()
        let tables = r.output.components(separatedBy: "busbw GB/s")
        #expect(tables.count == 3, "\(r.output)")
        #expect(r.output.contains("ringmaster (busbw") && r.output.contains("gloo (busbw"), "\(r.output)")
        for table in tables.dropFirst() {
            // One row for N = 2: the 8-byte time, then the 64 KiB busbw.
            let row = try #require(table.split(separator: "\n").first { $0.hasPrefix("| 2 | ") }, "\(table)")
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(cells.count == 3 && cells[1].contains("µs") && Double(cells[2].prefix { $0 != " " }) ?? 0 > 0, "\(row)")
        }
    }
}

/// `ringmaster bench torch-ddp` end to end on a tiny model (the numbers themselves come from a release
/// build, in the README): both sides run, every rank ends with the same parameters, and the checkpoint
/// part reports its stall.
@Suite(.serialized, .timeLimit(.minutes(5)),
       .enabled(if: torchWheel != nil, "no PyTorch wheel on this machine (/opt/wheels/torch-*.whl): skipped"))
struct TorchBenchmarkTests {
    @Test func theTorchDDPBenchmarkRunsGlooAndTheRingHookAndTheCheckpointStall() async throws {
        let python = try await torchPython()
        let r = try await ChildProcess.run([try BuiltProducts.executable("ringmaster"), "bench", "torch-ddp", "--ranks", "2",
                                            "--launches", "1", "--steps", "2", "--model-mib", "1", "--checkpoint-steps", "10",
                                            "--python", python, "--json"], mergeStderr: true)
        #expect(r.termination == .exited(0), "\(r.output)")
        let json = try #require(r.output.split(separator: "\n").last { $0.hasPrefix("{") }, "\(r.output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let summary = try #require((object["ddp"] as? [String: Any])?["summary"] as? [String: Any])
        let two = try #require(summary["2"] as? [String: Any])
        for side in ["gloo", "ring"] {
            let s = try #require(two[side] as? [String: Any], "\(two)")
            #expect((s["stepSeconds"] as? Double ?? 0) > 0 && (s["allreduceSeconds"] as? Double ?? 0) > 0)
        }
        #expect(object["checkpoint"] is [String: Any], "\(object.keys)")
    }
}
