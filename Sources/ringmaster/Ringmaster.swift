import ArgumentParser
import SSHTransport
import SystemUtilities

@main
struct Ringmaster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ringmaster",
        abstract: "Cluster training orchestrator and fault manager.",
        discussion: """
            Exit codes: 0 success, 1 failure (a job failed, an API error), 64 bad command line, 65 invalid
            manifest or inventory, 66 unknown job or file, 69 no controller answering, 73 state directory
            writable by other users, 74 state database cannot be written (full disk), 75 state directory in
            use by another controller (or its database locked by another process), 77 wrong or missing
            API token.
            """,
        version: "0.1.0",
        subcommands: [ControllerCommand.self, Submit.self, Jobs.self, Status.self, Logs.self, Cancel.self, Events.self, Chaos.self,
                      Nodes.self, Console.self, Run.self, Place.self, Plan.self, Bench.self, CheckpointCommand.self])

    /// ArgumentParser's own `main`, with one addition: every way out first closes the SSH sessions and
    /// waits for their threads (`SSHLibrary.shutdown`), so `exit()` never runs OpenSSL's cleanup under a
    /// live session (issue 18).
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            await closeSSH()
            exit(withError: error)
        }
        await closeSSH()
    }

    static func closeSSH() async {
        _ = try? await onDedicatedThread(name: "ssh shutdown") { SSHLibrary.shutdown(within: SSHLibrary.exitWait) }
    }
}
