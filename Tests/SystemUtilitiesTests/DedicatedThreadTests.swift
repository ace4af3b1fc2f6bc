import SystemUtilities
import Testing

@Suite struct DedicatedThreadTests {
    struct Refused: Error {}

    @Test func theResultOrTheErrorComesBackFromANamedThread() async throws {
        let name = try await onDedicatedThread(name: "rm-test-thread-long-name") { POSIX.readText("/proc/thread-self/comm") }
        #expect(name == "rm-test-thread-\n")  // Linux keeps 15 bytes
        await #expect(throws: Refused.self) { try await onDedicatedThread(name: "refuse") { () throws -> Int in throw Refused() } }
    }

    @Test func theMonotonicClockNeverGoesBack() {
        let a = POSIX.monotonicNanoseconds()
        let b = POSIX.monotonicNanoseconds()
        #expect(b >= a && a > 0)
    }
}
