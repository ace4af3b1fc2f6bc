/// A JSON document in its plainest form, for the agent protocol's hot path: strings without escapes, numbers
/// kept as their text. `parse` returns nil for anything else (an escape, a duplicate key, nesting deeper than
/// `maxDepth`, invalid UTF-8, trailing bytes, any syntax error), and the caller decodes the line with
/// `JSONDecoder` instead, which then accepts or refuses it with its own error: what this accepts, it reads
/// exactly as `JSONDecoder` does.
enum PlainJSON: Equatable {
    case null
    case bool(Bool)
    /// The number's text, valid JSON number syntax.
    case number(String)
    case string(String)
    case array([PlainJSON])
    /// Members in their order (a handful each: a linear search beats hashing).
    case object([Member])

    struct Member: Equatable {
        var key: String
        var value: PlainJSON
    }

    static let maxDepth = 8
    /// More members than this in one object and `JSONDecoder` reads it.
    static let maxMembers = 64

    static func parse(_ bytes: some Collection<UInt8>) -> PlainJSON? {
        var parser = Parser(bytes: Array(bytes))
        guard let value = parser.value(depth: 0) else { return nil }
        parser.skipSpace()
        return parser.at == parser.bytes.count ? value : nil
    }

    subscript(key: String) -> PlainJSON? {
        if case .object(let members) = self { return members.first { $0.key == key }?.value }
        return nil
    }

    /// A decimal integer with no fraction or exponent, in range of `T`.
    func integer<T: FixedWidthInteger>(_: T.Type = T.self) -> T? {
        guard case .number(let text) = self, !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }),
              T.isSigned || !text.hasPrefix("-") else { return nil }
        return T(text)
    }

    var double: Double? {
        guard case .number(let text) = self, let d = Double(text), d.isFinite else { return nil }
        return d
    }

    var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    var array: [PlainJSON]? {
        if case .array(let a) = self { return a }
        return nil
    }

    var isNull: Bool { self == .null }

    private struct Parser {
        let bytes: [UInt8]
        var at = 0

        mutating func skipSpace() {
            while at < bytes.count, bytes[at] == 0x20 || bytes[at] == 0x0A || bytes[at] == 0x0D || bytes[at] == 0x09 { at += 1 }
        }

        mutating func value(depth: Int) -> PlainJSON? {
            skipSpace()
            guard at < bytes.count, depth <= PlainJSON.maxDepth else { return nil }
            switch bytes[at] {
            case UInt8(ascii: "{"): return object(depth: depth)
            case UInt8(ascii: "["): return array(depth: depth)
            case UInt8(ascii: "\""): return string().map(PlainJSON.string)
            case UInt8(ascii: "t"): return literal("true", .bool(true))
            case UInt8(ascii: "f"): return literal("false", .bool(false))
            case UInt8(ascii: "n"): return literal("null", .null)
            default: return number()
            }
        }

        mutating func literal(_ word: StaticString, _ result: PlainJSON) -> PlainJSON? {
            let n = word.utf8CodeUnitCount
            guard at + n <= bytes.count else { return nil }
            for i in 0..<n where bytes[at + i] != word.utf8Start[i] { return nil }
            at += n
            return result
        }

        mutating func object(depth: Int) -> PlainJSON? {
            at += 1
            var members: [Member] = []
            skipSpace()
            if at < bytes.count, bytes[at] == UInt8(ascii: "}") { at += 1; return .object(members) }
            while true {
                skipSpace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: "\""), let key = string() else { return nil }
                skipSpace()
                guard at < bytes.count, bytes[at] == UInt8(ascii: ":") else { return nil }
                at += 1
                guard members.count < PlainJSON.maxMembers, !members.contains(where: { $0.key == key }),
                      let v = value(depth: depth + 1) else { return nil }
                members.append(Member(key: key, value: v))
                skipSpace()
                guard at < bytes.count else { return nil }
                if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
                guard bytes[at] == UInt8(ascii: "}") else { return nil }
                at += 1
                return .object(members)
            }
        }

        mutating func array(depth: Int) -> PlainJSON? {
            at += 1
            var items: [PlainJSON] = []
            skipSpace()
            if at < bytes.count, bytes[at] == UInt8(ascii: "]") { at += 1; return .array(items) }
            while true {
                guard let v = value(depth: depth + 1) else { return nil }
                items.append(v)
                skipSpace()
                guard at < bytes.count else { return nil }
                if bytes[at] == UInt8(ascii: ",") { at += 1; continue }
                guard bytes[at] == UInt8(ascii: "]") else { return nil }
                at += 1
                return .array(items)
            }
        }

        /// A string without escapes or control characters, valid UTF-8.
        mutating func string() -> String? {
            let start = at + 1
            var i = start
            while i < bytes.count {
                let b = bytes[i]
                if b == UInt8(ascii: "\"") { break }
                if b == UInt8(ascii: "\\") || b < 0x20 { return nil }
                i += 1
            }
            guard i < bytes.count else { return nil }
            at = i + 1
            return String(validating: bytes[start..<i], as: UTF8.self)
        }

        /// JSON's number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
        mutating func number() -> PlainJSON? {
            let start = at
            func digits() -> Int {
                let s = at
                while at < bytes.count, bytes[at] >= UInt8(ascii: "0"), bytes[at] <= UInt8(ascii: "9") { at += 1 }
                return at - s
            }
            if at < bytes.count, bytes[at] == UInt8(ascii: "-") { at += 1 }
            guard at < bytes.count else { return nil }
            if bytes[at] == UInt8(ascii: "0") { at += 1 } else if digits() == 0 { return nil }
            if at < bytes.count, bytes[at] == UInt8(ascii: ".") {
                at += 1
                guard digits() > 0 else { return nil }
            }
            if at < bytes.count, bytes[at] == UInt8(ascii: "e") || bytes[at] == UInt8(ascii: "E") {
                at += 1
                if at < bytes.count, bytes[at] == UInt8(ascii: "+") || bytes[at] == UInt8(ascii: "-") { at += 1 }
                guard digits() > 0 else { return nil }
            }
            return .number(String(decoding: bytes[start..<at], as: UTF8.self))
        }
    }
}
