import SystemUtilities
import Testing

/// `POSIX.capture`: a real child process through posix_spawn, its output read to the end.
@Suite struct POSIXCaptureTests {
    @Test func stdoutAndStderrTogetherWithTheExitStatus() throws {
        let (status, output) = try POSIX.capture(["sh", "-c", "echo out; echo err >&2; exit 3"])
        #expect(status == .exited(3))
        #expect(output == "out\nerr\n")
    }

    @Test func stderrCanBeDiscardedAndStdinIsFed() throws {
        let (status, output) = try POSIX.capture(["sh", "-c", "cat; echo err >&2"], stdin: "fed\n", mergeStderr: false)
        #expect(status == .exited(0))
        #expect(output == "fed\n")
    }

    @Test func outputPastTheLimitIsDroppedButTheChildRunsToItsEnd() throws {
        let (status, output) = try POSIX.capture(["sh", "-c", "yes | head -c 100000; exit 4"], limit: 10)
        #expect(status == .exited(4))
        #expect(output == "y\ny\ny\ny\ny\n")
    }

    @Test func stdinIsFedWhileTheOutputIsRead() throws {
        // More than a pipe holds both ways: written all first, `cat` and this would wait for each other.
        let input = String(repeating: "0123456789abcdef", count: 1 << 16)
        let (status, output) = try POSIX.capture(["cat"], stdin: input, mergeStderr: false, limit: 2 << 20)
        #expect(status == .exited(0))
        #expect(output == input)
    }

    @Test func aTimeoutKillsTheChildsGroupAndKeepsWhatItWrote() throws {
        let start = POSIX.monotonicNanoseconds()
        let (status, output) = try POSIX.capture(["sh", "-c", "echo started; sleep 60 & wait"], timeout: .milliseconds(300))
        #expect(status == nil)
        #expect(output == "started\n")
        // Neither the shell nor its `sleep` (which holds the pipe too) kept it past the timeout.
        #expect(POSIX.monotonicNanoseconds() - start < 20_000_000_000)
    }

    @Test func aMissingProgramIsAnErrorNamingIt() {
        #expect(throws: POSIX.Error.self) { try POSIX.capture(["/nonexistent/ringmaster-no-such-program"]) }
    }
}
