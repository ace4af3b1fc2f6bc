import Foundation
import Synchronization
import SystemUtilities
import Testing

/// Bounds that hold even when what they wait on ignores cancellation: a hung wait must fail, with its
/// name, instead of holding the test run for ever.
@Suite struct BoundedWaitTests {
    @Test func aTimeoutEndsTheWaitEvenWhenTheBodyIgnoresCancellation() async throws {
        // The body waits on a thread that nothing cancels: before, the timeout waited for it.
        let release = DispatchSemaphore(value: 0)
        let error = await #expect(throws: TimedOut.self) {
            try await withTimeout(.milliseconds(50), "a wait that never ends") {
                try await onDedicatedThread(name: "stuck") { release.wait() }
            }
        }
        #expect(error?.what == "a wait that never ends")
        release.signal()
    }

    @Test func theBodysValueOrErrorComesBackWhenItEndsFirst() async throws {
        #expect(try await withTimeout(.seconds(60), "quick") { 42 } == 42)
        struct Boom: Error {}
        await #expect(throws: Boom.self) { try await withTimeout(.seconds(60), "boom") { throw Boom() } }
    }

    @Test func cancellingTheCallerCancelsTheBody() async throws {
        let sawCancel = Atomic<Bool>(false)
        let waiter = Task {
            try await withTimeout(.seconds(600), "a long sleep") {
                do { try await Task.sleep(for: .seconds(600)) } catch {
                    sawCancel.store(true, ordering: .sequentiallyConsistent)
                    throw error
                }
            }
        }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        try await eventually("the body to see the cancellation", within: .seconds(30)) {
            sawCancel.load(ordering: .sequentiallyConsistent)
        }
    }

    @Test func cancellingTheCallerEndsAWaitWhoseBodyIgnoresIt() async throws {
        let release = DispatchSemaphore(value: 0)
        let waiter = Task {
            try await withTimeout(.seconds(600), "a stuck thread") { try await onDedicatedThread(name: "stuck") { release.wait() } }
        }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        release.signal()
    }

    @Test func aCancelledRunKillsItsChild() async throws {
        let run = Task { try await ChildProcess.run(["sleep", "600"]) }
        // Let the child start: cancelling first would only prove a cancelled spawn.
        try await eventually("sleep 600 to run", within: .seconds(30)) {
            (try? await ChildProcess.run(["pgrep", "-x", "-P", "\(getpid())", "sleep"]).termination) == .exited(0)
        }
        run.cancel()
        let result = try await run.value
        #expect(result.termination == .signaled(SIGKILL), "\(String(describing: result.termination))")
    }
}
