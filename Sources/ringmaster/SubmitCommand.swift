import ArgumentParser
import ControllerAPI
import Foundation
import RingmasterModel

/// `ringmaster submit FILE [--wait]`.
struct Submit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Submit a job manifest to the controller.",
        discussion: """
            The controller validates the manifest (every error is printed as FILE:LINE: field: message — hint,
            exit 65), stores the job and runs it as soon as nodes are free. With --wait, follows the job's
            events until it ends: exit 0 when it succeeded, 1 when it failed or was cancelled.
            """)

    @Argument(help: "Job manifest (YAML).")
    var file: String

    @Flag(help: "Follow the job's events until it ends.")
    var wait = false

    @OptionGroup var options: ClientOptions

    func run() async throws {
        let path = URL(fileURLWithPath: file).standardizedFileURL.path
        guard let data = FileManager.default.contents(atPath: path) else {
            Output.error("error: cannot read \(file) — check the path")
            throw ExitCode(66)
        }
        let client = try options.client()
        let request = SubmitRequest(manifest: String(decoding: data, as: UTF8.self), path: path)
        let job = try await ClientFailure.call { try client.post("\(APIVersion.prefix)/jobs", body: request, as: JobView.self) }
        if options.json && !wait { try Output.json(job) } else { Output.line("submitted \(job.id) (\(job.worldSize) ranks)") }
        guard wait else { return }
        let final = try await Self.follow(job: job.id, client: client, json: options.json)
        if final != .succeeded { throw ExitCode(1) }
    }

    /// Prints the job's events until it reaches a final state; returns that state.
    static func follow(job: String, client: ControllerClient, json: Bool) async throws -> JobState {
        try await ClientFailure.call {
            var final = JobState.pending
            try client.stream("\(APIVersion.prefix)/events?follow=1&job=\(job)") { line in
                guard let e = try? APICoding.decoder().decode(EventView.self, from: Data(line.utf8)) else { return true }
                Output.line(json ? line : Human.event(e))
                if let state = e.jobStateTo, state.isFinal {
                    final = state
                    return false
                }
                return true
            }
            return final
        }
    }
}
