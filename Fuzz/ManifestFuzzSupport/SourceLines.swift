import FuzzSupport

/// Where a manifest error may point: `FILE:LINE` must name a line of the file, or one past its end
/// (for "missing at the end of the file").
struct SourceLines {
    let count: Int

    /// Counts every line break YAML knows (`\n`, `\r`, NEL, LS, PS), so an editor's count is never larger.
    init(_ text: String) {
        var breaks = 0
        for scalar in text.unicodeScalars where [0x0A, 0x0D, 0x85, 0x2028, 0x2029].contains(scalar.value) { breaks += 1 }
        count = breaks + 1
    }

    func require(_ line: Int?, _ what: @autoclosure () -> String) {
        guard let line else { return }
        Fuzzer.require(line >= 1 && line <= count + 1, "\(what()) points at line \(line) of a \(count)-line text")
    }
}
