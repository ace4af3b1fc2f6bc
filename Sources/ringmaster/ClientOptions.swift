import ArgumentParser
import Controller
import ControllerAPI
import Foundation
import SystemUtilities

/// How a client command finds the controller: `--controller URL`, `$RINGMASTER_CONTROLLER`, the URL the
/// controller wrote to its state directory, or http://127.0.0.1:7460; the token from `$RINGMASTER_TOKEN`
/// or the state directory's `api-token`.
struct ClientOptions: ParsableArguments {
    @Option(name: .long, help: "Controller URL (default: $RINGMASTER_CONTROLLER, else the state directory's controller.json).")
    var controller: String?

    @Option(name: .long, help: "State directory holding the API token (default: $RINGMASTER_STATE_DIR or ~/.ringmaster).")
    var stateDir: String?

    @Flag(help: "Print JSON instead of tables.")
    var json = false

    func client(timeout: Double = 30) throws -> ControllerClient {
        let env = ProcessInfo.processInfo.environment
        let dir = StateDirectory.resolve(stateDir)
        let url = controller ?? env["RINGMASTER_CONTROLLER"].flatMap { $0.isEmpty ? nil : $0 }
            ?? dir.readInfo()?.url ?? "http://127.0.0.1:7460"
        let token = env["RINGMASTER_TOKEN"].flatMap { $0.isEmpty ? nil : $0 } ?? dir.readToken()
        do { return try ControllerClient(url: url, token: token, timeoutSeconds: timeout) } catch {
            throw ClientFailure.report(error)
        }
    }
}

/// Turns client errors into the message and exit code a user gets.
enum ClientFailure {
    /// Prints the error as the API said it; exit 69 when no controller answers, 77 for a bad token,
    /// 65 for a rejected manifest, 1 otherwise.
    static func report(_ error: any Error) -> ExitCode {
        switch error {
        case let failure as ControllerClient.Failure:
            Output.error("error: \(failure.body)")
            switch failure.status {
            case 401: return ExitCode(77)
            case 400: return .invalidManifest
            case 404: return ExitCode(66)
            default: return ExitCode(1)
            }
        case let connection as ControllerConnectionError:
            Output.error("error: \(connection)")
            if case .unreachable = connection { return ExitCode(69) }
            return ExitCode(1)
        default:
            Output.error("error: \(error)")
            return ExitCode(1)
        }
    }

    /// Runs a blocking client call on a thread of its own, its errors unprinted (optional extras).
    static func quiet<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await onDedicatedThread(name: "ringmaster-client", body)
    }

    /// Runs a blocking client call on a thread of its own, mapping its errors.
    static func call<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        do { return try await onDedicatedThread(name: "ringmaster-client", body) } catch { throw report(error) }
    }
}

/// Short human forms shared by the client commands.
enum Human {
    static func time(_ date: Date) -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss.SSS"
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }

    static func age(_ date: Date, now: Date = Date()) -> String {
        let s = Int(now.timeIntervalSince(date))
        if s < 120 { return "\(max(s, 0))s" }
        if s < 7200 { return "\(s / 60)m" }
        if s < 172_800 { return "\(s / 3600)h" }
        return "\(s / 86400)d"
    }

    static func event(_ e: EventView) -> String {
        "\(time(e.time))  \(e.kind.padding(toLength: 20, withPad: " ", startingAt: 0))  \(e.message)"
    }
}
