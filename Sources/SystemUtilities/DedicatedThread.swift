#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Runs `body` on a new detached thread of its own: blocking work (libssh sessions, waitpid, pipes,
/// blocking sockets) never runs in the cooperative pool, whose few threads every timer needs.
/// The name (at most 15 bytes are kept) shows in `top -H` and debuggers.
public func runOnDedicatedThread(name: String, stackSize: Int = 1 << 20, _ body: @escaping @Sendable () -> Void) {
    let start = Unmanaged.passRetained(ThreadStart(name: name, body: body)).toOpaque()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    pthread_attr_setstacksize(&attributes, stackSize)
    var thread = pthread_t()
    let rc = pthread_create(&thread, &attributes, { raw in
        let start = Unmanaged<ThreadStart>.fromOpaque(raw!).takeRetainedValue()
        start.run()
        return nil
    }, start)
    if rc != 0 {
        Unmanaged<ThreadStart>.fromOpaque(start).release()
        fatalError("cannot start thread '\(name)': \(String(cString: strerror(rc)))")
    }
}

/// Runs blocking `work` on a dedicated thread and returns its result to the async caller.
public func onDedicatedThread<T: Sendable>(name: String, _ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        runOnDedicatedThread(name: name) {
            do { c.resume(returning: try work()) } catch { c.resume(throwing: error) }
        }
    }
}

/// What a new thread runs, handed over through pthread_create's argument.
private final class ThreadStart {
    let name: String
    let body: @Sendable () -> Void

    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }

    func run() {
        var short = ""
        for c in name where short.utf8.count + String(c).utf8.count <= 15 { short.append(c) }
        _ = Self.setName?(pthread_self(), short)
        body()
    }

    /// pthread_setname_np, which Swift's Glibc module leaves out (it is a GNU extension): found by name.
    private typealias SetName = @convention(c) (pthread_t, UnsafePointer<CChar>) -> Int32
    private static let setName: SetName? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pthread_setname_np")
        .map { unsafeBitCast($0, to: SetName.self) }
}
