/// Sizes as the benchmark writes them: 8, 4K, 64K, 1M, 256M, 1G (binary multiples).
public enum ByteSize {
    public static func parse(_ text: String) -> Int? {
        // Trimmed without Foundation's CharacterSet: linking it pulls ICU's data into libRingmasterC.so.
        let t = String(text.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed()).uppercased()
        guard let last = t.last else { return nil }
        let (digits, scale): (Substring, Int) = switch last {
        case "K": (t.dropLast(), 1 << 10)
        case "M": (t.dropLast(), 1 << 20)
        case "G": (t.dropLast(), 1 << 30)
        default: (Substring(t), 1)
        }
        guard let n = Int(digits), n >= 0 else { return nil }
        return n * scale
    }

    public static func parseList(_ text: String) -> [Int]? {
        let parts = text.split(separator: ",").map { parse(String($0)) }
        guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
        return parts.map { $0! }
    }

    public static func format(_ bytes: Int) -> String {
        if bytes >= 1 << 30, bytes % (1 << 30) == 0 { return "\(bytes >> 30)G" }
        if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20)M" }
        if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10)K" }
        return "\(bytes)"
    }
}

import Foundation
