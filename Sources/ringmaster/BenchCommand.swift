import ArgumentParser

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure Ringmaster's parts on this machine.",
        subcommands: [BenchAllReduceCommand.self, BenchAllReduceRankCommand.self, BenchStore.self, BenchCheckpoint.self,
                      BenchController.self, BenchGoodput.self, BenchAPILoad.self, BenchTorchDDP.self, BenchScale.self])
}
