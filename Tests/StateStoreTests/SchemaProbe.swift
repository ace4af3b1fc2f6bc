@testable import StateStore

/// The shipped schema text, for tests that check its constraints directly.
enum StoreSchemaProbe {
    static let v1 = Schema.v1
}
