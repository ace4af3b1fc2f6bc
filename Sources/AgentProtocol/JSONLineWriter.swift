import RingmasterModel

/// Writes one compact JSON document (no newline) value by value, for the protocol's fast path: `object` and
/// `array` put the commas between their members; inside an object each value follows its `key`.
struct JSONLineWriter {
    private(set) var bytes: [UInt8] = []
    /// Nothing written yet in the innermost object or array: no comma before the next member.
    private var first = true

    init() { bytes.reserveCapacity(256) }

    /// `{…}`: `body` writes the members (`key` and a value, or `field`).
    mutating func object(_ body: (inout JSONLineWriter) -> Void) {
        raw("{")
        first = true
        body(&self)
        raw("}")
        first = false
    }

    /// `[…]`: `element` writes one value per item.
    mutating func array<T>(_ items: [T], _ element: (inout JSONLineWriter, T) -> Void) {
        raw("[")
        first = true
        for item in items {
            comma()
            element(&self, item)
        }
        raw("]")
        first = false
    }

    /// A member's name; its value comes next.
    mutating func key(_ name: String) {
        comma()
        string(name)
        raw(":")
    }

    mutating func field(_ name: String, _ value: some FixedWidthInteger) {
        key(name)
        number(value)
    }

    /// A finite double in Swift's shortest round-trip form (`0.25`, `1e-05`), which is JSON number syntax.
    mutating func field(_ name: String, _ value: Double) {
        key(name)
        bytes.append(contentsOf: value.description.utf8)
    }

    mutating func field(_ name: String, _ value: String) {
        key(name)
        string(value)
    }

    /// `"name": {"K": "V", …}` with the keys sorted (an environment).
    mutating func field(_ name: String, _ map: [String: String]) {
        key(name)
        object { w in
            for key in map.keys.sorted() { w.field(key, map[key]!) }
        }
    }

    /// `"name": ["…", …]`.
    mutating func field(_ name: String, _ strings: [String]) {
        key(name)
        array(strings) { w, s in w.string(s) }
    }

    mutating func rankRef(_ r: RankRef) {
        key("rank")
        object { w in
            w.field("job", r.job.rawValue)
            w.field("attempt", r.attempt)
            w.field("rank", r.rank)
        }
    }

    mutating func number(_ value: some FixedWidthInteger) {
        bytes.append(contentsOf: String(value).utf8)
    }

    private static let hex = Array("0123456789abcdef".utf8)

    /// A JSON string: `"` and `\` escaped, control characters as `\u00XX`, everything else as its UTF-8.
    mutating func string(_ s: String) {
        raw("\"")
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0..<0x20:
                raw("\\u00")
                bytes.append(Self.hex[Int(b >> 4)])
                bytes.append(Self.hex[Int(b & 0xF)])
            default: bytes.append(b)
            }
        }
        raw("\"")
    }

    private mutating func comma() {
        if !first { raw(",") }
        first = false
    }

    private mutating func raw(_ s: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }
}
