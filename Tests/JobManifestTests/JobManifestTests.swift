import Foundation
import JobManifest
import RingmasterModel
import RingmasterTestKit
import Testing

@Suite struct JobManifestParsing {
    @Test func readsEveryFieldAndResolvesRelativePaths() throws {
        let spec = try parseJob("""
            name: demo
            command: [python3, train.py, --lr, "3e-4"]
            workdir: ../work
            env: {PYTHONUNBUFFERED: "1", SEED: 7}
            parallelism: {data: 2, pipeline: 2, tensor: 2}
            resources: {acceleratorsPerRank: 1, ranksPerNode: 4, acceleratorKind: nvidia}
            checkpoint: {every: 50, keep: 2, dir: ckpt, async: false}
            failure: {maxRestarts: 4, backoff: 500ms, stallTimeout: 2m, quarantineAfter: 2, minDataParallel: 1}
            """, file: "/tmp/manifests/job.yaml")
        #expect(spec.name == "demo")
        #expect(spec.command == ["python3", "train.py", "--lr", "3e-4"])
        #expect(spec.workdir == "/tmp/work")
        #expect(spec.env == ["PYTHONUNBUFFERED": "1", "SEED": "7"])
        #expect(spec.parallelism == Parallelism(data: 2, pipeline: 2, tensor: 2))
        #expect(spec.resources == Resources(acceleratorsPerRank: 1, ranksPerNode: 4, acceleratorKind: .nvidia))
        #expect(spec.checkpoint == CheckpointPolicy(every: 50, keep: 2, dir: "/tmp/manifests/ckpt", async: false))
        #expect(spec.failure == FailurePolicy(maxRestarts: 4, backoff: .milliseconds(500), stallTimeout: .fixed(.seconds(120)),
                                              quarantineAfter: 2, minDataParallel: 1))
    }

    @Test func appliesDefaultsAndRunsAStringCommandThroughTheShell() throws {
        let spec = try parseJob("name: j\ncommand: python3 train.py > out.log\n")
        #expect(spec.command == ["/bin/sh", "-c", "python3 train.py > out.log"])
        #expect(spec.parallelism.worldSize == 1)
        #expect(spec.resources.acceleratorsPerRank == 1)
        #expect(spec.checkpoint == nil)
        #expect(spec.failure == FailurePolicy())
    }

    @Test func recordsTheLineOfEveryField() throws {
        let loaded = try JobManifestLoader.parse("name: j\ncommand: [a]\nparallelism:\n  data: 2\n  tensor: 2\n",
                                                 file: "/m/job.yaml")
        #expect(loaded.lines["parallelism.tensor"] == 5)
        let error = loaded.error(field: "parallelism.tensor", message: "too big", hint: "lower it")
        #expect(error.description == "/m/job.yaml:5: parallelism.tensor: too big — lower it")
        // A field that was not written points at its nearest written parent.
        #expect(loaded.error(field: "parallelism.pipeline", message: "x").line == 3)
    }
}

@Suite struct JobManifestErrors {
    @Test func unknownFieldSuggestsTheClosestName() {
        #expect(jobErrors("name: j\ncommand: [a]\nparalelism: {data: 2}\n") == [
            "/manifests/job.yaml:3: paralelism: unknown field — did you mean `parallelism`?",
        ])
        #expect(jobErrors("name: j\ncommand: [a]\nparallelism: {tensr: 2}\n") == [
            "/manifests/job.yaml:3: parallelism.tensr: unknown field — did you mean `tensor`?",
        ])
    }

    @Test func wrongTypeSaysWhatWasExpected() {
        #expect(jobErrors("name: j\ncommand: [a]\nparallelism:\n  data: two\n") == [
            "/manifests/job.yaml:4: parallelism.data: expected an integer, got `two` — a count of 1 or more",
        ])
        #expect(jobErrors("name: j\ncommand: [a]\nparallelism: [1, 2]\n") == [
            "/manifests/job.yaml:3: parallelism: expected a mapping of fields, got a list — fields: data, pipeline, tensor",
        ])
        #expect(jobErrors("name: j\ncommand: [a]\ncheckpoint: {every: 5, dir: /tmp/x, async: maybe}\n") == [
            "/manifests/job.yaml:3: checkpoint.async: expected true or false, got `maybe`",
        ])
    }

    @Test func missingRequiredFields() {
        #expect(jobErrors("parallelism: {data: 1}\n") == [
            "/manifests/job.yaml:1: name: missing required field — name the job, e.g. `name: llama-finetune`",
            "/manifests/job.yaml:1: command: missing required field — give the program every rank runs, e.g. `command: [python3, train.py]`",
        ])
        #expect(jobErrors("name: j\ncommand: [a]\ncheckpoint: {every: 10}\n") == [
            "/manifests/job.yaml:3: checkpoint.dir: missing required field — a directory every node and the controller can see",
        ])
    }

    @Test func zeroAndNegativeCounts() {
        #expect(jobErrors("name: j\ncommand: [a]\nparallelism: {data: 0, tensor: -2}\n") == [
            "/manifests/job.yaml:3: parallelism.data: must be at least 1, got 0 — a count of 1 or more",
            "/manifests/job.yaml:3: parallelism.tensor: must be at least 1, got -2 — a count of 1 or more",
        ])
        #expect(jobErrors("name: j\ncommand: [a]\nfailure: {maxRestarts: -1}\n") == [
            "/manifests/job.yaml:3: failure.maxRestarts: must not be negative, got -1",
        ])
    }

    @Test func emptyCommand() {
        let hint = "give the program and its arguments, e.g. `command: [python3, train.py]`"
        #expect(jobErrors("name: j\ncommand: \"  \"\n") == ["/manifests/job.yaml:2: command: empty command — \(hint)"])
        #expect(jobErrors("name: j\ncommand: []\n") == ["/manifests/job.yaml:2: command: empty command — \(hint)"])
        #expect(jobErrors("name: j\ncommand:\n") == [
            "/manifests/job.yaml:2: command: required field has no value — give the program every rank runs, e.g. `command: [python3, train.py]`",
        ])
    }

    @Test func malformedDurations() {
        let hint = "write a number and a unit: 500ms, 30s, 5m or 2h"
        #expect(jobErrors("name: j\ncommand: [a]\nfailure:\n  backoff: 5\n  stallTimeout: 30 sec\n") == [
            "/manifests/job.yaml:4: failure.backoff: malformed duration `5` — \(hint)",
            "/manifests/job.yaml:5: failure.stallTimeout: malformed duration `30 sec` — \(hint)",
        ])
        #expect(jobErrors("name: j\ncommand: [a]\nfailure: {stallTimeout: 0s}\n") == [
            "/manifests/job.yaml:3: failure.stallTimeout: must be longer than zero — write e.g. 500ms or 30s",
        ])
    }

    @Test func durationsInEveryUnit() throws {
        let spec = try parseJob("name: j\ncommand: [a]\nfailure: {backoff: 1.5s, stallTimeout: 5m}\n")
        #expect(spec.failure.backoff == .milliseconds(1500))
        #expect(spec.failure.stallTimeout == .fixed(.seconds(300)))
        let hours = try parseJob("name: j\ncommand: [a]\nfailure: {backoff: 250ms, stallTimeout: 2h}\n")
        #expect(hours.failure.backoff == .milliseconds(250))
        #expect(hours.failure.stallTimeout == .fixed(.seconds(7200)))
    }

    @Test func stallTimeoutIsAutoByDefaultAndCanBeSaidSo() throws {
        #expect(try parseJob("name: j\ncommand: [a]\n").failure.stallTimeout == .auto)
        #expect(try parseJob("name: j\ncommand: [a]\nfailure: {stallTimeout: auto}\n").failure.stallTimeout == .auto)
        // Stored job rows from before `auto` hold a plain duration; both forms round-trip.
        for timeout in [StallTimeout.auto, .fixed(.seconds(30))] {
            let data = try JSONEncoder().encode(FailurePolicy(stallTimeout: timeout))
            #expect(try JSONDecoder().decode(FailurePolicy.self, from: data).stallTimeout == timeout)
        }
        let legacy = try JSONEncoder().encode(Duration.seconds(45))
        #expect(try JSONDecoder().decode(StallTimeout.self, from: legacy) == .fixed(.seconds(45)))
    }

    @Test func checkpointDirThatCannotBeCreated() throws {
        try withTemporaryDirectory { dir in
            let file = try writeFile(dir, "blocker", "not a directory")
            let errors = jobErrors("name: j\ncommand: [a]\ncheckpoint:\n  every: 5\n  dir: blocker/ckpt\n",
                                   file: "\(dir)/job.yaml")
            #expect(errors == [
                "\(dir)/job.yaml:5: checkpoint.dir: cannot create `\(file)/ckpt`: `\(file)` is a file, not a directory "
                    + "— choose a writable directory on storage every node sees",
            ])
            // A directory that does not exist yet but can be created is fine, and nothing is created.
            #expect(jobErrors("name: j\ncommand: [a]\ncheckpoint: {every: 5, dir: new/ckpt}\n",
                              file: "\(dir)/job.yaml").isEmpty)
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/new"))
        }
    }

    @Test func reportsEveryErrorOfTheFileTogether() {
        let errors = jobErrors("""
            name: bad name!
            command: []
            parallelism: {data: 0, pipline: 2}
            failure: {backoff: soon}
            """)
        #expect(errors.count == 5)
        #expect(errors.map { $0.split(separator: ":")[1] } == ["1", "2", "3", "3", "4"])
    }

    @Test func reservedEnvironmentAndBadNames() {
        #expect(jobErrors("name: j\ncommand: [a]\nenv:\n  RANK: \"3\"\n  1BAD: x\n") == [
            "/manifests/job.yaml:4: env.RANK: is set by Ringmaster for every rank — remove it; see the rank environment in README.md",
            "/manifests/job.yaml:5: env.1BAD: not a valid environment variable name — use letters, digits and '_', not starting with a digit",
        ])
    }

    @Test func cpuOnlyRanksNeedANodeCapacity() {
        #expect(jobErrors("name: j\ncommand: [a]\nresources: {acceleratorsPerRank: 0}\n") == [
            "/manifests/job.yaml:3: resources.acceleratorsPerRank: CPU-only ranks (0 accelerators) need a node capacity — add `resources.ranksPerNode: N`",
        ])
    }

    @Test func shrinkFloorAboveDataParallelism() {
        #expect(jobErrors("name: j\ncommand: [a]\nparallelism: {data: 2}\nfailure: {minDataParallel: 4}\n") == [
            "/manifests/job.yaml:4: failure.minDataParallel: is 4 but parallelism.data is 2 — the job may only shrink: use a value from 1 to 2",
        ])
    }

    @Test func yamlSyntaxErrorsAndDuplicateKeysHaveTheirLine() {
        let syntax = jobErrors("name: j\ncommand: [a\nparallelism: {}\n")
        #expect(syntax.count == 1)
        #expect(syntax[0].hasPrefix("/manifests/job.yaml:"))
        #expect(syntax[0].contains("not valid YAML"))
        let duplicate = jobErrors("name: j\nname: k\ncommand: [a]\n")
        #expect(duplicate.count == 1)
        #expect(duplicate[0].contains("duplicate key name"))
    }

    /// fuzz-api-bodies: a manifest path of one character (the submit request `{"manifest": …, "path": "l"}`) trapped
    /// in NSString's deletingLastPathComponent on Linux, taking the controller down with it.
    @Test func aManifestNamedByOneCharacterLoads() throws {
        #expect(jobErrors("name: j\ncommand: [a]\nresozrces: {acceleratorsPerRank:0 }\n", file: "l") == [
            "l:3: resozrces: unknown field — did you mean `resources`?",
        ])
        let relative = try JobManifestLoader.parse("name: j\ncommand: [a]\nworkdir: w\n", file: "j").value
        #expect(relative.workdir == FileManager.default.currentDirectoryPath + "/w")
        #expect(try JobManifestLoader.parse("name: j\ncommand: [a]\nworkdir: w\n", file: "/j").value.workdir == "/w")
        #expect(try JobManifestLoader.parse("name: j\ncommand: [a]\nworkdir: w\n", file: "/m/j").value.workdir == "/m/w")
        #expect(try ClusterInventoryLoader.parse("name: c\nlocal: 1\n", file: "c").value.nodes.count == 1)
    }

    @Test func unreadableFileNamesThePath() {
        #expect(throws: ManifestErrors.self) { try JobManifestLoader.load(path: "/nonexistent/job.yaml") }
        do {
            _ = try JobManifestLoader.load(path: "/nonexistent/job.yaml")
        } catch {
            #expect(error.description == "/nonexistent/job.yaml: cannot read the file — check the path and its permissions")
        }
    }
}

@Suite struct PathFolderBehaviour {
    @Test func foldersAndNamesAsFoundationGivesThemWithoutItsTrapOnNonASCIINames() {
        let cases: [(String, String, String)] = [
            ("a/b", "a", "b"), ("/a", "/", "a"), ("a", "", "a"), ("a/b/", "a", "b"), ("/", "/", "/"), ("", "", ""),
            ("/x//y", "/x", "y"), ("Ù", "", "Ù"), ("/tmp/é.yaml", "/tmp", "é.yaml"), ("~/jobs/demo.yaml", "~/jobs", "demo.yaml"),
        ]
        for (path, folder, name) in cases {
            #expect(PathFolder.of(path) == folder, "\(path)")
            #expect(PathFolder.lastComponent(of: path) == name, "\(path)")
        }
    }

    @Test func aManifestWhosePathIsNotASCIIParses() throws {
        // The API takes the path from the request: schemathesis sent "Ù", and the controller trapped.
        for path in ["Ù", "/tmp/é.yaml", "\u{0088}"] {
            #expect(throws: ManifestErrors.self) { try JobManifestLoader.parse("name: x\n", file: path) }
        }
        let ok = try JobManifestLoader.parse("name: x\ncommand: [\"true\"]\n", file: "/tmp/é/job.yaml")
        #expect(ok.value.name == "x")
    }
}
