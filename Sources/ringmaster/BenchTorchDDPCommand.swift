import ArgumentParser
import Foundation
import SystemUtilities

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `ringmaster bench torch-ddp`: PyTorch DDP over Gloo against DDP with Ringmaster's ring comm hook
/// (scripts/torch_ddp_bench.py), then the async checkpoint stall and save throughput beside dd
/// (scripts/torch_checkpoint_bench.py), both run with the torch venv's Python and the C ABI library
/// next to this executable.
struct BenchTorchDDP: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "torch-ddp",
        abstract: "PyTorch DDP step and all-reduce time, Gloo against the ring hook; async checkpoint stall.",
        discussion: """
            Runs scripts/torch_ddp_bench.py (N ranks on loopback, alternating launches of plain DDP over \
            Gloo and DDP with ringmaster.torch.ring_allreduce_hook) and scripts/torch_checkpoint_bench.py \
            (an async Checkpointer every 10 steps: the training thread's stall as a share of step time, \
            save throughput beside dd conv=fsync). The ring side loads libRingmasterC.so from this \
            executable's folder unless --library says otherwise.
            """)

    @Option(help: "Comma-separated rank counts.") var ranks = "2,4"
    @Option(help: "Launches per side and rank count (they alternate Gloo, ring, …).") var launches = 3
    @Option(help: "Timed DDP steps per launch (default: the script's).") var steps: Int?
    @Option(help: "float32 parameter MiB of the model (default: the scripts', 84 MiB = 22M parameters).")
    var modelMib: Double?
    @Option(help: "Timed steps per phase of the checkpoint benchmark (default: the script's).") var checkpointSteps: Int?
    @Option(help: "Python with torch.") var python = "/var/tmp/ringmaster-torch-venv/bin/python"
    @Option(help: "libRingmasterC.so for the ring side (default: the one next to this executable).") var library: String?
    @Option(help: "Folder holding torch_ddp_bench.py (default: the checkout's scripts/ above this executable, else ./scripts).")
    var scripts: String?
    @Flag(help: "Skip the checkpoint benchmark.") var skipCheckpoint = false
    @Flag(help: "Print one JSON object {ddp, checkpoint} with the scripts' JSON.") var json = false

    func validate() throws {
        let counts = ranks.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ ($0 ?? 0) >= 1 }) else { throw ValidationError("--ranks: expected e.g. 2,4") }
        guard launches >= 1 else { throw ValidationError("--launches must be at least 1") }
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1") }
        if let checkpointSteps, checkpointSteps < 1 { throw ValidationError("--checkpoint-steps must be at least 1") }
        if let modelMib, !(modelMib > 0) { throw ValidationError("--model-mib must be positive") }
    }

    func run() async throws {
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let folder = (executable as NSString).deletingLastPathComponent
        let lib = library ?? folder + "/libRingmasterC.so"
        guard access(lib, R_OK) == 0 else {
            throw fail("no C ABI library at \(lib) — build it (swift build -c release --product RingmasterC) or pass --library")
        }
        guard access(python, X_OK) == 0 else {
            throw fail("no Python at \(python) — scripts/torch-venv.sh makes a venv with torch, or pass --python")
        }
        let dir = try scriptFolder(from: folder)

        var ddp = [python, dir + "/torch_ddp_bench.py", "--ranks", ranks, "--launches", String(launches),
                   "--python", python, "--library", lib]
        if let steps { ddp += ["--steps", String(steps)] }
        if let modelMib { ddp += ["--model-mib", String(modelMib)] }
        var checkpoint = [python, dir + "/torch_checkpoint_bench.py", "--python", python]
        if let checkpointSteps { checkpoint += ["--steps", String(checkpointSteps)] }
        if let modelMib { checkpoint += ["--model-mib", String(modelMib)] }
        let runs = [("ddp", ddp)] + (skipCheckpoint ? [] : [("checkpoint", checkpoint)])

        if !json {
            for (_, argv) in runs { try await runScript(argv, capture: false) }
            return
        }
        var parts: [String] = []
        for (name, argv) in runs {
            let out = try await runScript(argv + ["--json"], capture: true).trimmingCharacters(in: .whitespacesAndNewlines)
            parts.append("\"\(name)\":\(out.isEmpty ? "null" : out)")
        }
        print("{" + parts.joined(separator: ",") + "}")
    }

    /// The folder holding the scripts: --scripts, else `scripts/` in the nearest folder above the
    /// executable that has it (a build's .build/<triple>/<config>/ sits three levels under the checkout),
    /// else ./scripts.
    private func scriptFolder(from folder: String) throws -> String {
        if let scripts { return scripts }
        var dir = folder
        while !dir.isEmpty, dir != "/" {
            if access(dir + "/scripts/torch_ddp_bench.py", R_OK) == 0 { return dir + "/scripts" }
            dir = (dir as NSString).deletingLastPathComponent
        }
        guard access("scripts/torch_ddp_bench.py", R_OK) == 0 else {
            throw fail("cannot find scripts/torch_ddp_bench.py above \(folder) or here — pass --scripts DIR")
        }
        return "scripts"
    }

    /// Runs `argv` (no shell), its stderr on ours; its stdout on ours too, or returned when `capture`.
    @discardableResult
    private func runScript(_ argv: [String], capture: Bool) async throws -> String {
        let script = try ChildProcess(argv, stdout: capture ? .capture : .inherit, stderr: .inherit)
        await script.exit()
        let status = script.termination
        guard status == .exited(0) else {
            let name = (argv[1] as NSString).lastPathComponent
            FileHandle.standardError.write(Data("ringmaster bench torch-ddp: \(name) ended with \(status.map { "\($0)" } ?? "an unknown status")\n".utf8))
            if case .exited(let code) = status, code != 0 { throw ExitCode(code) }
            throw ExitCode(1)
        }
        return script.standardOutput
    }

    private func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("ringmaster bench torch-ddp: \(message)\n".utf8))
        return ExitCode(1)
    }
}
