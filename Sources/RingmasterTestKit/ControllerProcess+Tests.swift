import ControllerAPI
import ControllerHarness
import Foundation

extension ControllerProcess {
    /// Starts the built `ringmaster controller` (see `ControllerProcess.start(ringmaster:…)`).
    public static func start(cluster: String, stateDirectory: String, launcher: [String] = [], extra: [String] = [],
                             logFile: String? = nil) async throws -> ControllerProcess
    {
        try await start(ringmaster: try BuiltProducts.executable("ringmaster"), cluster: cluster, stateDirectory: stateDirectory,
                        launcher: launcher, extra: extra, logFile: logFile)
    }

    /// Submits the manifest file through the API.
    public func submit(_ path: String) async throws -> JobView {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try await call { try $0.post("\(APIVersion.prefix)/jobs", body: SubmitRequest(manifest: text, path: path), as: JobView.self) }
    }

    /// Waits until attempt `n` of the job reports its first step.
    public func waitForStepping(_ job: String, attempt n: Int, within limit: Duration = .seconds(120)) async throws {
        _ = try await waitForEvent(job: job, within: limit) {
            $0.kind == "attempt.stepping" && $0.message.hasPrefix("attempt \(n) of")
        }
    }

    /// The job with its attempts and ranks, from the API.
    public func detail(_ id: String) async throws -> JobDetail {
        try await call { try $0.get("\(APIVersion.prefix)/jobs/\(id)", as: JobDetail.self) }
    }
}
