/// The same input cut at different places, for readers that must not care where reads end (a stream
/// framer sees the bytes of one line in any number of reads). The cuts come from a hash of the input
/// itself, so an input always splits the same way and a saved finding reproduces.
public enum Chunks {
    public static func split(_ bytes: [UInt8]) -> [[UInt8]] {
        // FNV-1a of the input seeds a SplitMix64 stream of chunk lengths (1…64 bytes).
        var state: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { state = (state ^ UInt64(b)) &* 0x100_0000_01b3 }
        var chunks: [[UInt8]] = []
        var start = 0
        while start < bytes.count {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            z ^= z >> 31
            let length = Int(z % 64) + 1
            let end = min(bytes.count, start + length)
            chunks.append(Array(bytes[start..<end]))
            start = end
        }
        return chunks
    }

    /// The input's lines as a line reader hands them over: without the newline, bytes as UTF-8 text with
    /// invalid sequences replaced (what `String(decoding:as:)` does in the socket readers).
    public static func lines(_ bytes: [UInt8]) -> [String] {
        bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .map { String(decoding: $0, as: UTF8.self) }
    }
}
