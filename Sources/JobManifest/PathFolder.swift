/// The folder part of a path, as `NSString.deletingLastPathComponent` gives it — which, in this toolchain's
/// Foundation, traps on some non-ASCII names (`"Ù"`, `"/tmp/é.yaml"`: an illegal instruction in
/// `String._startOfLastPathComponent`), so a manifest path sent to the API could stop the controller.
/// Pure Swift over the characters: trailing slashes ignored, `"a/b"` → `"a"`, `"/a"` → `"/"`, `"a"` → `""`.
public enum PathFolder {
    public static func of(_ path: String) -> String {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p.removeLast() }
        guard let slash = p.lastIndex(of: "/") else { return "" }
        var folder = p[..<slash]
        while folder.count > 1, folder.hasSuffix("/") { folder.removeLast() }
        return folder.isEmpty ? "/" : String(folder)
    }

    /// The last component (`NSString.lastPathComponent`, same reason): trailing slashes ignored.
    public static func lastComponent(of path: String) -> String {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p.removeLast() }
        guard p != "/" else { return "/" }
        return String(p.lastIndex(of: "/").map { p[p.index(after: $0)...] } ?? p)
    }
}
