import Hummingbird

/// A request's query parameters, read with their types: a value that does not parse, or lies outside
/// its range, is a 400 naming the parameter and what it takes — never silently ignored.
struct QueryParameters: Sendable {
    let parameters: Parameters

    init(_ request: Request) { parameters = request.uri.queryParameters }

    func string(_ name: String) -> String? { parameters.get(name).map { String($0) } }

    /// An integer in `range`; nil when absent.
    func int<I: FixedWidthInteger>(_ name: String, in range: ClosedRange<I>, _ what: String) throws -> I? {
        guard let text = parameters.get(name) else { return nil }
        guard let value = I(text), range.contains(value) else {
            let bounds = range.upperBound == I.max ? "≥ \(range.lowerBound)" : "\(range.lowerBound)…\(range.upperBound)"
            throw APIError(.badRequest, "query parameter \(name)=\(text) is not \(what)", hint: "\(name) takes an integer \(bounds)")
        }
        return value
    }

    /// `1`/`true` or `0`/`false`; nil when absent.
    func bool(_ name: String) throws -> Bool? {
        guard let text = parameters.get(name) else { return nil }
        switch text {
        case "1", "true": return true
        case "0", "false": return false
        default:
            throw APIError(.badRequest, "query parameter \(name)=\(text) is not a boolean", hint: "\(name) takes 1, true, 0 or false")
        }
    }
}
