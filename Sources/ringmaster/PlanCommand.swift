import ArgumentParser
import Foundation
import JobManifest
import Planning
import RingmasterModel

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check before launch whether a layout fits and what it will cost.",
        discussion: "Needs the manifest's `model:` and `hardware:` sections; see README.md, \"Capacity planner\".")

    @Argument(help: "Job manifest (YAML) with model: and hardware: sections.")
    var job: String

    @Flag(help: "Print the plan as JSON.")
    var json = false

    func run() throws {
        let loaded: LoadedManifest<JobSpec>
        switch Manifests.job(job) {
        case .success(let l): loaded = l
        case .failure(let e): throw Manifests.fail(e.errors)
        }
        let spec = loaded.value
        var missing: [ManifestError] = []
        if spec.model == nil {
            missing.append(loaded.error(field: "model", message: "`ringmaster plan` needs a model: section",
                                        hint: "add parameters, layers, hiddenSize, heads, sequenceLength, trainingTokens"))
        }
        if spec.hardware == nil {
            missing.append(loaded.error(field: "hardware", message: "`ringmaster plan` needs a hardware: section",
                                        hint: "add peakFLOPS, memory, intraNodeLinkGBps, mfu"))
        }
        guard let model = spec.model, let hardware = spec.hardware else { throw Manifests.fail(missing) }
        let plan = CapacityPlanner(model: model, hardware: hardware).plan(spec.parallelism)
        if json {
            try Output.json(plan)
        } else {
            print(PlanReport(name: spec.name, model: model, hardware: hardware, plan: plan).text)
        }
    }
}
