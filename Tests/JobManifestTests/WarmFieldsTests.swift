import JobManifest
import RingmasterModel
import Testing

/// `warm:`: its fields and defaults, the commands it takes (a script or a module, interpreter options first),
/// and a clear error for the ones it does not.
@Suite struct WarmFieldsTests {
    @Test func readsTheFieldsAndDefaults() throws {
        let spec = try parseJob("""
            name: j
            command: [/venv/bin/python, -u, -X, dev, train.py, --lr, "1"]
            warm: {preload: [torch, ringmaster.torch], size: 2, spares: 0, refillAfter: 500ms}
            """)
        #expect(spec.warm == WarmPolicy(python: "/venv/bin/python", preload: ["torch", "ringmaster.torch"], size: 2, spares: 0,
                                        refillAfter: .milliseconds(500)))
        let plain = try parseJob("name: j\ncommand: [python3, -m, trainer.main, x]\nwarm: {}\n")
        #expect(plain.warm == WarmPolicy(python: "python3", preload: []))
        #expect(try parseJob("name: j\ncommand: [python3, t.py]\n").warm == nil)
    }

    @Test func theCommandSplitsIntoInterpreterOptionsAndProgram() {
        #expect(PythonCommand(["py", "-u", "-W", "error", "t.py", "-u"]).map { [$0.options, $0.program] } == [["-u", "-W", "error"], ["t.py", "-u"]])
        #expect(PythonCommand(["py", "-m", "pkg.mod", "--x"])?.program == ["-m", "pkg.mod", "--x"])
        for argv in [["py"], ["py", "-c", "print(1)"], ["py", "-u"], ["py", "-m"], ["py", "--help"], ["py", "-m", "-x"]] {
            #expect(PythonCommand(argv) == nil, "\(argv)")
        }
    }

    @Test func refusesWhatCannotRunWarm() {
        #expect(jobErrors("name: j\ncommand: python3 t.py\nwarm: {preload: [torch]}\n") == [
            "/manifests/job.yaml:3: warm: the command is not a Python interpreter running a script or a module — warm interpreters take `command: [PYTHON, [OPTIONS…], SCRIPT, ARGS…]` or `[PYTHON, -m, MODULE, …]`; remove `warm:` for other commands",
        ])
        #expect(jobErrors("name: j\ncommand: [python3, t.py]\nwarm: {python: /usr/bin/python3}\n") == [
            "/manifests/job.yaml:3: warm.python: `/usr/bin/python3` is not the command's interpreter `python3` — leave `warm.python` out (it is the command's first word) or make them the same",
        ])
        #expect(jobErrors("name: j\ncommand: [python3, t.py]\nwarm:\n  preload: [torch, 'os path']\n").first?
            .hasPrefix("/manifests/job.yaml:4: warm.preload") == true)
        #expect(jobErrors("name: j\ncommand: [python3, t.py]\nwarm: {size: 0}\n").count == 1)
        #expect(jobErrors("name: j\ncommand: [python3, t.py]\nwarm: {prelod: [torch]}\n") == [
            "/manifests/job.yaml:3: warm.prelod: unknown field — did you mean `preload`?",
        ])
    }
}
