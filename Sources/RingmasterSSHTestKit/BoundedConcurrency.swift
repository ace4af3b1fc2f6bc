/// `body` of every element, at most `limit` at a time, in the elements' order; returns once all have ended.
/// The first error cancels those not yet finished and is rethrown after every started one has ended (so
/// that what they made is known to whoever cleans up).
func mapConcurrently<S: Sequence & Sendable, T: Sendable>(
    _ elements: S, limit: Int, _ body: @escaping @Sendable (S.Element) async throws -> T
) async throws -> [T] where S.Element: Sendable {
    try await withThrowingTaskGroup(of: (Int, T).self) { group in
        var results: [Int: T] = [:]
        var running = 0
        for (i, element) in elements.enumerated() {
            if running == limit, let (j, value) = try await group.next() {
                results[j] = value
                running -= 1
            }
            group.addTask { (i, try await body(element)) }
            running += 1
        }
        for try await (j, value) in group { results[j] = value }
        return results.keys.sorted().map { results[$0]! }
    }
}
