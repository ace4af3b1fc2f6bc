import Foundation
import RingmasterTestKit
import SystemUtilities
import Testing

/// Runs the built `ringmaster` and returns (exit status, stdout, stderr).
func ringmaster(_ args: [String]) async throws -> (Int32, String, String) {
    let done = try await ChildProcess.run([try BuiltProducts.executable("ringmaster")] + args)
    return (done.status, done.standardOutput, done.standardError)
}

let root = BuiltProducts.packageRoot

@Suite(.timeLimit(.minutes(2))) struct PlaceAndPlanCommands {
    @Test func placeJSONFollowsTheRankContract() async throws {
        let (status, out, err) = try await ringmaster(["place", "\(root)/Manifests/jobs/demo-3d.yaml",
                                                       "--cluster", "\(root)/Manifests/clusters/local.yaml", "--json"])
        #expect(status == 0, "\(err)")
        let rows = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [[String: Any]]
        #expect(rows.count == 8)
        #expect(rows.map { $0["node"] as! String } == ["local-0", "local-0", "local-1", "local-1",
                                                       "local-2", "local-2", "local-3", "local-3"])
        for row in rows {
            let rank = row["rank"] as! Int
            #expect(rank == (row["tp"] as! Int) + 2 * ((row["dp"] as! Int) + 2 * (row["pp"] as! Int)))
            #expect(row["devices"] as! [Int] == [row["localRank"] as! Int])
        }
    }

    @Test func placeTableAndAnErrorPointingAtTheJobLine() async throws {
        let (status, out, _) = try await ringmaster(["place", "\(root)/Manifests/jobs/demo-3d.yaml",
                                                     "--cluster", "\(root)/Manifests/clusters/local.yaml"])
        #expect(status == 0)
        #expect(out.contains("RANK  NODE     LOCAL  DEVICES  TP  PP  DP"))
        try await withTemporaryDirectory { dir in
            let job = try writeFile(dir, "wide.yaml", "name: wide\ncommand: [a]\nparallelism:\n  tensor: 4\n")
            let (status, _, err) = try await ringmaster(["place", job, "--cluster", "\(root)/Manifests/clusters/local.yaml"])
            #expect(status == 65)
            #expect(err.hasPrefix("\(job):4: parallelism.tensor: a tensor group of 4 ranks would span nodes"))
            #expect(err.contains("lower parallelism.tensor to at most 2"))
        }
    }

    @Test func errorsOfBothFilesArePrintedTogether() async throws {
        try await withTemporaryDirectory { dir in
            let job = try writeFile(dir, "job.yaml", "name: j\ncomand: [a]\n")
            let cluster = try writeFile(dir, "c.yaml", "name: c\nlocal: -1\n")
            let (status, _, err) = try await ringmaster(["place", job, "--cluster", cluster])
            #expect(status == 65)
            let lines = err.split(separator: "\n").map(String.init)
            #expect(lines.contains("\(job):2: comand: unknown field — did you mean `command`?"))
            #expect(lines.contains { $0.hasPrefix("\(job):1: command: missing required field") })
            #expect(lines.contains { $0.hasPrefix("\(cluster):2: local: must be at least 1, got -1") })
        }
    }

    @Test func planJSONHasTheDocumentedFields() async throws {
        let (status, out, err) = try await ringmaster(["plan", "\(root)/Manifests/jobs/plan-gpt3-175b.yaml", "--json"])
        #expect(status == 0, "\(err)")
        let plan = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
        for key in ["trainingFLOPs", "acceleratorHours", "wallClockDays", "memory", "fits", "minimumAccelerators",
                    "reliability"] {
            #expect(plan[key] != nil, "missing \(key)")
        }
        let memory = plan["memory"] as! [String: Any]
        for key in ["weightsBytes", "gradientsBytes", "optimizerBytes", "activationsBytes", "perAcceleratorBytes",
                    "totalBytes"] {
            #expect(memory[key] != nil, "missing memory.\(key)")
        }
        let reliability = plan["reliability"] as! [String: Any]
        for key in ["clusterMTBFHours", "checkpointIntervalMinutes", "expectedETTR"] {
            #expect(reliability[key] != nil, "missing reliability.\(key)")
        }
        #expect(abs((plan["trainingFLOPs"] as! Double) / 3.15e23 - 1) < 0.001)
    }

    @Test func planWithoutPlannerSectionsSaysWhatToAdd() async throws {
        let (status, _, err) = try await ringmaster(["plan", "\(root)/Manifests/jobs/demo-3d.yaml"])
        #expect(status == 65)
        #expect(err.contains("model: `ringmaster plan` needs a model: section"))
        #expect(err.contains("hardware: `ringmaster plan` needs a hardware: section"))
    }

    @Test func benchStorePrintsEventsPerSecond() async throws {
        try await withTemporaryDirectory { dir in
            let (status, out, err) = try await ringmaster(["bench", "store", "--events", "300", "--batch", "100",
                                                           "--dir", dir, "--json"])
            #expect(status == 0, "\(err)")
            let rows = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [[String: Any]]
            #expect(rows.map { $0["batchSize"] as! Int } == [1, 100])
            #expect(rows.allSatisfy { ($0["eventsPerSecond"] as! Double) > 0 })
        }
    }
}
