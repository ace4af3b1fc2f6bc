import ArgumentParser

@main
struct Ringmaster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ringmaster",
        abstract: "Cluster training orchestrator and fault manager.",
        discussion: """
            Exit codes: 0 success, 1 failure, 64 bad command line, 65 invalid manifest or inventory.
            """,
        version: "0.1.0",
        subcommands: [Run.self, Place.self, Plan.self, Nodes.self, Bench.self])
}
