import ArgumentParser

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Ringmaster's parts on this machine.",
        subcommands: [BenchStore.self, BenchCheckpoint.self])
}
