// swift-tools-version:6.1
import PackageDescription

// Swift 6 language mode: complete strict concurrency checking on every target.
let strict: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

// Release builds of the two products the controller uploads to hosts without a Swift toolchain link Swift's
// runtime and Foundation in (what `--static-swift-stdlib` does for a whole build): `swift build -c release`
// leaves a deployable agent and library beside the controller. The modules are compiled against the
// toolchain's shared runtime like every other target, so the libraries that static Foundation itself needs
// (and a shared libFoundation.so would have brought) are named here. Debug builds stay dynamic (static,
// the debug agent is 75 MB, ICU's data mostly, hashed at each start); the controller refuses to upload one.
let staticSwiftRuntime: [LinkerSetting] = [
    .unsafeFlags(
        ["-static-stdlib", "-lCoreFoundation", "-l_FoundationICU", "-l_FoundationCShims", "-l_FoundationCollections",
         "-lFoundationInternationalization", "-lFoundationEssentials", "-lswiftSynchronization", "-lswiftDispatch",
         "-ldispatch", "-lBlocksRuntime"],
        .when(platforms: [.linux], configuration: .release)),
]

let package = Package(
    name: "ringmaster",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ringmaster", targets: ["ringmaster"]),
        .executable(name: "ringmaster-train", targets: ["ringmaster-train"]),
        .executable(name: "ringmaster-agent", targets: ["ringmaster-agent"]),
        .executable(name: "ringmaster-smoke", targets: ["ringmaster-smoke"]),
        // The C ABI over Collectives, loaded by the Python package with ctypes (libRingmasterC.so).
        .library(name: "RingmasterC", type: .dynamic, targets: ["RingmasterC"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        // The HTTP API. Default traits off: no swift-configuration, no full Foundation needed.
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1", traits: []),
    ],
    targets: [
        // Value types shared by every module and by the node agent. No dependencies.
        .target(name: "RingmasterModel", swiftSettings: strict),
        // POSIX errors, posix_spawn, child processes (line-read output, wait, signal), capture with a timeout,
        // dedicated threads, the monotonic clock, bounded waits. The C library only; used by every module that
        // starts a process or blocks.
        .target(name: "SystemUtilities", swiftSettings: strict),
        // YAML job manifests and cluster inventories → model types, with FILE:LINE errors.
        .target(
            name: "JobManifest",
            dependencies: ["RingmasterModel", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict),
        // Placement (ranks → nodes) and the capacity planner. Pure.
        .target(name: "Planning", dependencies: ["RingmasterModel"], swiftSettings: strict),
        // Failure detection and recovery decisions: hang and launch-error detectors, restart budget and
        // backoff, quarantine. Pure state machines; time is an input.
        .target(name: "FaultPolicy", dependencies: ["RingmasterModel"], swiftSettings: strict),
        // The fault manager's pure core: inputs and the time in, actions out (the controller is its shell).
        .target(name: "Supervision", dependencies: ["RingmasterModel", "FaultPolicy", "Planning"], swiftSettings: strict),
        // The SQLite state store (GRDB): one database type, records, migrations.
        .target(
            name: "StateStore",
            dependencies: ["RingmasterModel", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict),
        // Controller ↔ agent messages, newline-delimited JSON framing, rank reports, inventory parsers.
        // Shared with the agent: Foundation and the model only. Optimised even in debug builds: the agent
        // hashes its own executable at every start (SHA-256 in Swift runs ~40× slower unoptimised).
        .target(
            name: "AgentProtocol", dependencies: ["RingmasterModel", "SystemUtilities"],
            swiftSettings: strict + [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        // The node agent's decisions as a pure value type: ranks, kill deadlines, output budget, heartbeats,
        // shutdown. Inputs and the time in, actions out; no clock, no IO.
        .target(name: "AgentCore", dependencies: ["RingmasterModel", "AgentProtocol", "SystemUtilities"], swiftSettings: strict),
        // The node agent: `ringmaster-agent --stdio`, the poll shell around AgentCore. Its release build links the
        // Swift runtime in: the controller uploads it to hosts without a Swift toolchain.
        .executableTarget(
            name: "ringmaster-agent", dependencies: ["RingmasterModel", "AgentProtocol", "AgentCore", "SystemUtilities"],
            path: "Agents/ringmaster-agent", swiftSettings: strict, linkerSettings: staticSwiftRuntime),
        // libssh through pkg-config, and a small safe wrapper: one thread per session, strict host keys, SFTP.
        .systemLibrary(name: "CLibSSH", pkgConfig: "libssh", providers: [.apt(["libssh-dev"])]),
        .target(name: "SSHTransport", dependencies: ["CLibSSH"], swiftSettings: strict),
        // Controller side: brings nodes up through a transport (local pipes here), supervises heartbeats. No SSH.
        .target(
            name: "NodeManager", dependencies: ["RingmasterModel", "AgentProtocol", "SystemUtilities"],
            swiftSettings: strict),
        // SSH inventories: the agent transport over libssh (deploy over SFTP, speak the protocol on an exec channel).
        .target(
            name: "SSHNodes", dependencies: ["RingmasterModel", "AgentProtocol", "NodeManager", "SSHTransport", "SystemUtilities"],
            swiftSettings: strict),
        // Simulated inventories: hundreds of agents in the controller's process (AgentCore with virtual ranks) on a
        // few threads, speaking the real protocol, with injected faults; for scale measurements.
        .target(
            name: "SimulatedNodes", dependencies: ["RingmasterModel", "AgentProtocol", "AgentCore", "NodeManager", "SystemUtilities"],
            swiftSettings: strict),
        // Slurm inventories: the holder job's pure state machine, Slurm commands as argument vectors with their
        // `--parsable`/`--json` output parsed (no libslurm), and the agent transport over `srun --overlap`.
        .target(
            name: "SlurmNodes", dependencies: ["RingmasterModel", "AgentProtocol", "NodeManager", "SystemUtilities"],
            swiftSettings: strict),
        // TCP ring collectives: rendezvous, process groups, all-reduce and friends.
        .target(name: "Collectives", dependencies: ["RingmasterModel", "SystemUtilities"], swiftSettings: strict),
        // @_cdecl functions over Collectives with opaque handles and error codes: the C ABI for other languages.
        // Like the agent, its release build links the Swift runtime in: it is uploaded with the agent and loaded
        // by Python ranks on hosts without Swift.
        .target(name: "RingmasterC", dependencies: ["Collectives"], swiftSettings: strict, linkerSettings: staticSwiftRuntime),
        // Rank-side step checkpoints: atomic, verified (SHA-256), optionally asynchronous.
        .target(
            name: "Checkpointing",
            dependencies: ["RingmasterModel", "SystemUtilities", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        // The reference decoder-only language model: hand-written forward/backward, Adam, tensor,
        // pipeline and data parallelism over a Communicator, deterministic data and resume.
        .target(name: "TrainerCore", dependencies: ["RingmasterModel", "Checkpointing"], swiftSettings: strict),
        // The HTTP API's wire types, a small blocking HTTP/1.1 client for the CLI, and the state directory's file
        // names (how a client finds the controller). Foundation only.
        .target(name: "ControllerAPI", dependencies: ["RingmasterModel"], swiftSettings: strict),
        // The controller's services: rank environment, checkpoint commits, the job runner over node agents,
        // the HTTP API (Hummingbird), metrics (Prometheus), all in one ServiceGroup.
        .target(
            name: "Controller",
            dependencies: ["RingmasterModel", "JobManifest", "Planning", "FaultPolicy", "Supervision", "StateStore", "AgentProtocol",
                           "NodeManager", "SSHNodes", "SimulatedNodes", "SlurmNodes", "Collectives", "Checkpointing", "ControllerAPI",
                           "SystemUtilities",
                           .product(name: "Hummingbird", package: "hummingbird"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "Prometheus", package: "swift-prometheus")],
            // The console's page, styles and script, and the API's OpenAPI document (no build step).
            resources: [.copy("Resources/console"), .copy("Resources/openapi.json")],
            swiftSettings: strict),
        // A real `ringmaster controller` process on a state directory, with its API client and CLI: what the
        // daemon tests and the CLI's controller benchmarks drive.
        .target(
            name: "ControllerHarness", dependencies: ["ControllerAPI", "RingmasterModel", "SystemUtilities"],
            swiftSettings: strict),
        // The CLI. Thin: parse, validate, call library code.
        .executableTarget(
            name: "ringmaster",
            dependencies: [
                "RingmasterModel", "JobManifest", "Planning", "StateStore", "Checkpointing", "Collectives", "NodeManager", "SSHNodes",
                "SimulatedNodes",
                "Controller", "ControllerAPI", "ControllerHarness", "SSHTransport", "FaultPolicy", "AgentProtocol", "SystemUtilities", .product(name: "Logging", package: "swift-log"), .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        // The reference trainer executable: TrainerCore over Collectives, configured by the rank environment.
        .executableTarget(
            name: "ringmaster-train",
            dependencies: [
                "TrainerCore", "Collectives", "Checkpointing", "RingmasterModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        // The rank-contract smoke workload: all-reduce over the world and the tensor, data and pipeline groups.
        .executableTarget(
            name: "ringmaster-smoke", dependencies: ["Collectives", "Checkpointing"], swiftSettings: strict),
        // Processes the integration tests drive (a store writer to SIGKILL, …).
        .executableTarget(
            name: "ringmaster-fixture",
            dependencies: ["RingmasterModel", "StateStore", "Checkpointing"],
            swiftSettings: strict),
        // Fixtures and helpers for tests: temporary directories, built products, fakes, the built controller.
        // No SSH: pure modules' tests depend on it.
        .target(
            name: "RingmasterTestKit",
            dependencies: ["RingmasterModel", "AgentProtocol", "NodeManager", "ControllerAPI", "ControllerHarness", "SystemUtilities"],
            swiftSettings: strict),
        // Fixtures of the SSH, namespace-cluster and daemon suites: sshd, key pairs, network-namespace hosts.
        .target(
            name: "RingmasterSSHTestKit", dependencies: ["RingmasterModel", "RingmasterTestKit", "SystemUtilities"],
            swiftSettings: strict),

        .testTarget(
            name: "AgentCoreTests", dependencies: ["AgentCore", "AgentProtocol", "RingmasterModel", "SystemUtilities"], swiftSettings: strict),
        .testTarget(name: "SystemUtilitiesTests", dependencies: ["SystemUtilities"], swiftSettings: strict),
        .testTarget(name: "AgentProtocolTests", dependencies: ["AgentProtocol", "RingmasterModel"], swiftSettings: strict),
        .testTarget(
            name: "NodeManagerTests", dependencies: ["NodeManager", "RingmasterTestKit", "SystemUtilities"], swiftSettings: strict),
        .testTarget(
            name: "SimulatedNodesTests",
            dependencies: ["SimulatedNodes", "NodeManager", "AgentCore", "AgentProtocol", "RingmasterModel", "RingmasterTestKit",
                           "SystemUtilities"],
            swiftSettings: strict),
        .testTarget(
            name: "AgentIntegrationTests", dependencies: ["NodeManager", "AgentProtocol", "RingmasterTestKit", "SystemUtilities"],
            swiftSettings: strict),
        .testTarget(
            name: "SSHTransportTests",
            dependencies: ["SSHTransport", "SSHNodes", "NodeManager", "RingmasterTestKit", "RingmasterSSHTestKit", "SystemUtilities"],
            swiftSettings: strict),
        .testTarget(
            name: "NetnsClusterTests",
            dependencies: ["AgentProtocol", "NodeManager", "SSHNodes", "RingmasterTestKit", "RingmasterSSHTestKit", "SystemUtilities"],
            swiftSettings: strict),
        .testTarget(
            name: "ControllerTests",
            dependencies: ["Controller", "ControllerAPI", "Planning", "JobManifest", "StateStore", "Checkpointing", "RingmasterTestKit"],
            swiftSettings: strict),
        .testTarget(name: "FaultPolicyTests", dependencies: ["FaultPolicy", "RingmasterModel"], swiftSettings: strict),
        .testTarget(
            name: "SupervisionTests", dependencies: ["Supervision", "FaultPolicy", "Planning", "RingmasterModel"],
            swiftSettings: strict),
        .testTarget(name: "JobManifestTests", dependencies: ["JobManifest", "RingmasterTestKit"], swiftSettings: strict),
        .testTarget(name: "PlanningTests", dependencies: ["Planning", "JobManifest", "RingmasterTestKit"], swiftSettings: strict),
        .testTarget(name: "StateStoreTests", dependencies: ["StateStore", "RingmasterTestKit", "SystemUtilities"], swiftSettings: strict),
        .testTarget(name: "CollectivesTests", dependencies: ["Collectives", "RingmasterModel", "SystemUtilities"], swiftSettings: strict),
        .testTarget(
            name: "CheckpointingTests", dependencies: ["Checkpointing", "RingmasterTestKit", "SystemUtilities"], swiftSettings: strict),
        .testTarget(
            name: "TrainerCoreTests",
            dependencies: ["TrainerCore", "Collectives", "RingmasterModel", "RingmasterTestKit", "SystemUtilities"],
            swiftSettings: strict),
        .testTarget(
            name: "DaemonTests",
            dependencies: ["ControllerAPI", "ControllerHarness", "RingmasterModel", "RingmasterTestKit", "RingmasterSSHTestKit",
                           "SystemUtilities"],
            swiftSettings: strict),
        .testTarget(
            name: "SlurmTests",
            dependencies: ["SlurmNodes", "NodeManager", "JobManifest", "ControllerAPI", "ControllerHarness", "RingmasterModel",
                           "RingmasterTestKit", "SystemUtilities"],
            swiftSettings: strict),
        .testTarget(name: "CLITests", dependencies: ["RingmasterTestKit", "SystemUtilities"], swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)

// The fuzz targets (Fuzz/): one libFuzzer executable per input surface, each an `LLVMFuzzerTestOneInput` function
// over the product's own reader of that input. They have no `main` (libFuzzer's driver is theirs), so they exist
// only when scripts/fuzz.sh builds them, with RINGMASTER_FUZZ set, `--sanitize fuzzer --sanitize address`, and their
// own scratch path (.build-fuzz); the normal build and tests never see them.
if Context.environment["RINGMASTER_FUZZ"] != nil {
    func fuzzer(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
        .executableTarget(name: name, dependencies: ["FuzzSupport"] + dependencies, path: "Fuzz/\(name)", swiftSettings: strict)
    }
    package.targets += [
        .target(name: "FuzzSupport", path: "Fuzz/FuzzSupport", swiftSettings: strict),
        .target(
            name: "ManifestFuzzSupport", dependencies: ["FuzzSupport", "JobManifest"], path: "Fuzz/ManifestFuzzSupport",
            swiftSettings: strict),
        .target(
            name: "AgentFuzzSupport", dependencies: ["FuzzSupport", "AgentCore", "AgentProtocol", "RingmasterModel"],
            path: "Fuzz/AgentFuzzSupport", swiftSettings: strict),
        fuzzer("fuzz-job-manifest", ["ManifestFuzzSupport", "JobManifest"]),
        fuzzer("fuzz-cluster-inventory", ["ManifestFuzzSupport", "JobManifest", "RingmasterModel"]),
        fuzzer("fuzz-controller-frames", ["AgentFuzzSupport", "AgentCore", "AgentProtocol", "RingmasterModel"]),
        fuzzer("fuzz-agent-frames", ["AgentFuzzSupport", "NodeManager", "AgentProtocol"]),
        fuzzer("fuzz-rank-reports", ["AgentFuzzSupport", "AgentCore", "AgentProtocol", "RingmasterModel"]),
        fuzzer("fuzz-rendezvous", ["Collectives"]),
        fuzzer("fuzz-frame-header", ["Collectives"]),
        fuzzer("fuzz-api-bodies", ["ManifestFuzzSupport", "ControllerAPI", "JobManifest", "Planning", "RingmasterModel"]),
    ]
}
