/// The two signals the core decides on itself. Their numbers are the same on every POSIX system, so the core
/// needs no system module for them.
public enum Signal {
    public static let terminate: Int32 = 15  // SIGTERM
    public static let kill: Int32 = 9  // SIGKILL
}
