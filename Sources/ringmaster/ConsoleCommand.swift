import ArgumentParser
import ControllerAPI
import Foundation
import SystemUtilities

/// `ringmaster console [--open]`.
struct Console: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a one-time URL that opens the controller's web console (and open it with --open).",
        discussion: """
            The URL holds a one-time code, not the API token: opening it (within 10 minutes, once) exchanges the \
            code for a session cookie and lands on the console's page, with nothing secret left in the address bar.
            """)

    @Flag(help: "Open the URL in the desktop's browser (xdg-open, or $BROWSER).")
    var open = false

    @OptionGroup var options: ClientOptions

    func run() async throws {
        let client = try options.client()
        let login = try await ClientFailure.call {
            try client.post("\(APIVersion.prefix)/console/login", body: [String: String](), as: ConsoleLogin.self)
        }
        if options.json { return try Output.json(login) }
        print(login.url)
        guard open else { return }
        let browser = ProcessInfo.processInfo.environment["BROWSER"].flatMap { $0.isEmpty ? nil : $0 } ?? "xdg-open"
        let result = try await ChildProcess.run(["/usr/bin/env", browser, login.url], mergeStderr: true)
        if result.termination != .exited(0) {
            Output.error("could not open a browser (\(browser)): open the URL above yourself")
        }
    }
}
