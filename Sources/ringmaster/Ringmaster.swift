import ArgumentParser

@main
struct Ringmaster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ringmaster",
        abstract: "Cluster training orchestrator and fault manager.",
        discussion: """
            Exit codes: 0 success, 1 failure (a job failed, an API error), 64 bad command line, 65 invalid
            manifest or inventory, 66 unknown job or file, 69 no controller answering, 75 state directory
            in use by another controller, 77 wrong or missing API token.
            """,
        version: "0.1.0",
        subcommands: [ControllerCommand.self, Submit.self, Jobs.self, Status.self, Logs.self, Cancel.self, Events.self, Chaos.self,
                      Nodes.self, Run.self, Place.self, Plan.self, Bench.self])
}
