/// The largest counts a manifest may give where a count becomes an allocation or a product: past them a
/// value is a typo, and taken as written it exhausted memory or overflowed (each found by a fuzz target).
public enum ManifestLimits {
    /// Agents of a `local:` inventory, and spares among them: child processes of one machine.
    public static let localNodes = 1024
    /// Accelerators of one node.
    public static let perNode = 1024
}
