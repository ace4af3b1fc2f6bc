import ControllerAPI
import ControllerHarness
import Foundation

extension ControllerClient {
    /// Submits a manifest and follows the job's events until it ends; returns the final job. Blocking (a
    /// benchmark driver on a dedicated thread).
    func submitAndFollow(_ manifest: String, path: String, onEvent: (EventView) -> Void = { _ in }) throws -> JobView {
        let job = try post("/v1/jobs", body: SubmitRequest(manifest: manifest, path: path), as: JobView.self)
        try stream("/v1/events?follow=1&job=\(job.id)") { line in
            guard let e = try? APICoding.decoder().decode(EventView.self, from: Data(line.utf8)) else { return true }
            onEvent(e)
            return !(e.jobStateTo?.isFinal ?? false)
        }
        return try get("/v1/jobs/\(job.id)", as: JobDetail.self).job
    }
}

extension EventView {
    /// The payload's fields (numbers written as text stay text).
    var payloadFields: [String: Any] {
        (payload.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }) ?? [:]
    }
}
