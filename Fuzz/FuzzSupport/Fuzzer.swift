/// What every fuzz target shares. A target is one `@_cdecl("LLVMFuzzerTestOneInput")` function, linked
/// with libFuzzer's driver (`swift build --sanitize fuzzer`, see scripts/fuzz.sh).
public enum Fuzzer {
    /// The input libFuzzer hands over, as bytes the product's readers take.
    public static func bytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
        guard let data, size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: size))
    }

    /// A property that must hold for every input: when it does not, the input is a finding (libFuzzer
    /// saves it as a crash). Checked in optimised builds too, unlike `assert`.
    public static func require(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError("invariant broken: \(message())") }
    }
}
