import Foundation
import SystemUtilities
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `ChildProcess`: real children through posix_spawn, their output read on threads of their own.
@Suite(.timeLimit(.minutes(1))) struct ChildProcessTests {
    @Test func stdoutLinesStderrTextAndTheExitStatus() async throws {
        let child = try ChildProcess(["sh", "-c", "echo one; echo two >&2; printf 'three\\nfour'; exit 5"])
        #expect(await child.exit() == 5)
        #expect(child.termination == .exited(5))
        #expect(child.outputLines == ["one", "three", "four"])
        #expect(child.standardOutput == "one\nthree\nfour")
        #expect(child.standardError == "two\n")
    }

    @Test func aLineStillToComeIsAwaitedAndASignalReachesTheChild() async throws {
        let child = try ChildProcess(["sh", "-c", "trap 'echo got; exit 0' TERM; echo ready; while :; do sleep 0.05; done"])
        #expect(await child.line { $0 == "ready" } == "ready")
        child.signal(SIGTERM)
        #expect(await child.line { $0 == "got" } == "got")
        #expect(await child.exit() == 0)
    }

    @Test func theNthMatchOrNilWhenStdoutEndsWithoutIt() async throws {
        let child = try ChildProcess(["sh", "-c", "for i in 1 2 3; do echo PROGRESS $i; echo other; done"])
        #expect(await child.line(where: { $0.hasPrefix("PROGRESS") }, occurrence: 2) == "PROGRESS 2")
        #expect(await child.line(where: { $0.hasPrefix("PROGRESS") }, occurrence: 4) == nil)
        #expect(await child.exit() == 0)
    }

    @Test func theEndComesWithTheChildNotWithAGrandchildHoldingThePipe() async throws {
        let child = try ChildProcess(["sh", "-c", "sleep 60 & echo $!; echo done"])
        let status = try await withTimeout(.seconds(20), "the shell's end") { await child.exit() }
        #expect(status == 0)
        #expect(child.outputLines.last == "done")
        if let sleeper = child.outputLines.first.flatMap({ pid_t($0) }) { kill(sleeper, SIGKILL) }
    }

    @Test func aKilledChildEndsWith128PlusTheSignal() async throws {
        let child = try ChildProcess(["sleep", "60"], stdout: .discard, stderr: .discard)
        #expect(child.termination == nil)
        child.signal(SIGKILL)
        #expect(await child.exit() == 128 + SIGKILL)
        #expect(child.termination == .signaled(SIGKILL))
        child.signal(SIGKILL)  // after its end: sent to nobody
    }

    @Test func runReturnsBothStreamsApartOrMerged() async throws {
        let apart = try await ChildProcess.run(["sh", "-c", "echo out; echo err >&2; exit 2"])
        #expect(apart.status == 2 && !apart.succeeded)
        #expect(apart.standardOutput == "out\n" && apart.standardError == "err\n")
        #expect(throws: CompletedProcess.Failed.self) { try apart.check() }
        let merged = try await ChildProcess.run(["sh", "-c", "echo out; echo err >&2"], mergeStderr: true)
        #expect(merged.standardOutput == "out\nerr\n" && merged.standardError == "")
        #expect(try merged.check().succeeded)
        let env = try await ChildProcess.run(["sh", "-c", "echo $RM_TEST_VALUE"], environment: ["RM_TEST_VALUE": "42", "PATH": "/usr/bin:/bin"])
        #expect(env.standardOutput == "42\n")
    }

    @Test func outputAppendedToAFile() async throws {
        let path = NSTemporaryDirectory() + "rm-child-\(UUID().uuidString).log"
        defer { unlink(path) }
        for word in ["first", "second"] {
            let child = try ChildProcess(["sh", "-c", "echo \(word); echo \(word)-err >&2"], stdout: .appendTo(path), stderr: .stdout)
            #expect(await child.exit() == 0)
            #expect(child.outputLines.isEmpty)
        }
        #expect(POSIX.readText(path) == "first\nfirst-err\nsecond\nsecond-err\n")
        let uncaptured = try ChildProcess(["true"], stdout: .appendTo(path), stderr: .discard)
        #expect(await uncaptured.line { _ in true } == nil)  // no captured stdout: nothing to wait for
        await uncaptured.exit()
    }

    @Test func aMissingProgramIsAnError() {
        #expect(throws: POSIX.Error.self) { try ChildProcess(["/nonexistent/ringmaster-no-such-program"]) }
    }
}
