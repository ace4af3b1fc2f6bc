import AgentProtocol
import Foundation
import NodeManager
import RingmasterModel
import RingmasterTestKit
import SystemUtilities
import Testing

/// Warm interpreters through a real agent and a real `python3`: a launch into a waiting interpreter runs the
/// script as `python3 SCRIPT ARGS…` would — same `sys.argv`, `__name__`, `__file__`, working directory,
/// `sys.path[0]`, environment and stdin — in the interpreter that imported the preload, and the pool refills.
@Suite(.serialized, .timeLimit(.minutes(3))) struct WarmInterpreterTests {
    static let probe = """
        import json, os, sys
        class Point: pass
        print(json.dumps({
            "argv": sys.argv, "name": __name__, "file": __file__, "cwd": os.getcwd(), "path0": sys.path[0],
            "mark": os.environ.get("MARK"), "control": "RINGMASTER_CONTROL" in os.environ,
            "stdin": sys.stdin.read(), "preloaded": "decimal" in sys.modules, "main": sys.modules["__main__"].__name__,
            "spec": repr(__spec__), "package": repr(__package__), "loader": type(__loader__).__name__,
            "unbuffered": sys.stdout.write_through, "pickled": __import__("pickle").loads(__import__("pickle").dumps(Point)).__module__,
        }, sort_keys=True))
        sys.exit(int(sys.argv[-1]))
        """

    func waitForWarm(_ h: LocalModeTests.Harness, count: Int) async throws {
        _ = try await h.inbox.first("\(count) warm interpreter(s)", within: .seconds(60)) { m -> Bool? in
            if case .heartbeat(let hb) = m.message, hb.warmInterpreters == count { return true } else { return nil }
        }
    }

    func output(_ h: LocalModeTests.Harness, _ ref: RankRef) async throws -> [String: JSONValue] {
        let line = try await h.inbox.first("output of \(ref)", within: .seconds(60)) { m -> String? in
            if case .log(let b) = m.message, b.rank == ref, b.stream == .stdout { return b.lines.first } else { return nil }
        }
        guard case .object(let fields) = try JSONDecoder().decode(JSONValue.self, from: Data(line.utf8)) else { return [:] }
        return fields
    }

    @Test func aWarmLaunchRunsTheScriptAsAFreshInterpreterWouldAndThePoolRefills() async throws {
        let h = try await LocalModeTests.Harness(nodes: 1, heartbeat: .milliseconds(100))
        let scripts = h.dir.file("scripts")
        try FileManager.default.createDirectory(atPath: scripts, withIntermediateDirectories: true)
        try Self.probe.write(toFile: scripts + "/probe.py", atomically: true, encoding: .utf8)
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let kind = WarmSpec(python: "python3", options: ["-u"], preload: ["decimal"], env: ["PATH": path, "MARK": "pool"],
                            cwd: "/")
        #expect(h.manager.send(.warmPool(WarmPoolRequest(spec: kind, size: 1, refillDelayMilliseconds: 0)), to: "local-0"))
        try await waitForWarm(h, count: 1)

        func launch(_ rank: Int, warm: WarmSpec?) -> RankRef {
            let ref = RankRef(job: "job", attempt: 1, rank: rank)
            let request = LaunchRequest(rank: ref, argv: ["python3", "-u", "scripts/probe.py", "a b", "\(rank)"],
                                        env: ["PATH": path, "MARK": "rank"], cwd: h.dir.path, logDir: h.dir.file("logs"), warm: warm)
            #expect(h.manager.send(.launch(request), to: "local-0"))
            return ref
        }
        let warmRank = launch(3, warm: kind)
        let warm = try await output(h, warmRank)
        #expect(try await h.exited(warmRank, within: .seconds(60)).status == 3)
        let coldRank = launch(5, warm: nil)
        let cold = try await output(h, coldRank)
        #expect(try await h.exited(coldRank, within: .seconds(60)).status == 5)

        #expect(warm["preloaded"] == .bool(true), "the launch went into the interpreter that imported decimal")
        #expect(cold["preloaded"] == .bool(false))
        for key in ["name", "file", "cwd", "path0", "mark", "control", "stdin", "main", "spec", "package", "loader", "unbuffered",
                    "pickled"] {
            #expect(warm[key] == cold[key], "\(key): warm \(String(describing: warm[key])), cold \(String(describing: cold[key]))")
        }
        #expect(warm["argv"] == .array([.string("scripts/probe.py"), .string("a b"), .string("3")]))
        #expect(cold["argv"] == .array([.string("scripts/probe.py"), .string("a b"), .string("5")]))
        #expect(warm["mark"] == .string("rank"), "the rank's environment replaced the pool's")
        // The taken interpreter is replaced (the delay is 0 here), and dropping the pool stops it.
        try await waitForWarm(h, count: 1)
        #expect(h.manager.send(.warmPool(WarmPoolRequest(spec: kind, size: 0)), to: "local-0"))
        _ = try await h.inbox.first("pool dropped", within: .seconds(60)) { m -> Bool? in
            if case .heartbeat(let hb) = m.message, hb.warmInterpreters == nil { return true } else { return nil }
        }
        await h.close()
    }

    /// A launch into an interpreter still importing its preload (the launch comes before its ready byte): the
    /// launch waits for the imports and runs. The preload module marks that it started, then holds until the
    /// test opens its gate, after the launch was sent.
    @Test func aLaunchIntoAnInterpreterStillImportingWaitsForItsImports() async throws {
        let h = try await LocalModeTests.Harness(nodes: 1, heartbeat: .milliseconds(100))
        let modules = h.dir.file("modules")
        try FileManager.default.createDirectory(atPath: modules, withIntermediateDirectories: true)
        let (started, gate) = (h.dir.file("preload-started"), h.dir.file("preload-gate"))
        try """
            import os, time
            open(\(String(reflecting: started)), "w").close()
            deadline = time.monotonic() + 60
            while not os.path.exists(\(String(reflecting: gate))) and time.monotonic() < deadline:
                time.sleep(0.01)
            """.write(toFile: modules + "/held_preload.py", atomically: true, encoding: .utf8)
        try Self.probe.write(toFile: h.dir.file("probe.py"), atomically: true, encoding: .utf8)
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        let env = ["PATH": path, "PYTHONPATH": modules]
        let kind = WarmSpec(python: "python3", preload: ["held_preload", "decimal"], env: env, cwd: h.dir.path)
        #expect(h.manager.send(.warmPool(WarmPoolRequest(spec: kind, size: 1, refillDelayMilliseconds: 0)), to: "local-0"))
        try await eventually("the interpreter importing", within: .seconds(60), every: .milliseconds(10)) {
            FileManager.default.fileExists(atPath: started)
        }
        let ref = RankRef(job: "job", attempt: 1, rank: 0)
        #expect(h.manager.send(.launch(LaunchRequest(rank: ref, argv: ["python3", "probe.py", "0"], env: env, cwd: h.dir.path,
                                                     logDir: h.dir.file("logs"), warm: kind)), to: "local-0"))
        _ = try await h.started(ref)
        FileManager.default.createFile(atPath: gate, contents: nil)
        let out = try await output(h, ref)
        #expect(out["preloaded"] == .bool(true))
        #expect(try await h.exited(ref, within: .seconds(60)).status == 0)
        await h.close()
    }
}
