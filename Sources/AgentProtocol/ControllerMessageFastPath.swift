/// The controller's launches (4,096 at once when a large job starts or restarts) written without
/// `JSONEncoder`; the agent reads them with `JSONDecoder` as before.
public enum ControllerMessageFastPath {
    public static func encode(_ message: ControllerMessage) -> [UInt8]? {
        guard case .launch(let m) = message else { return nil }
        var w = JSONLineWriter()
        w.object { w in
            w.field("type", "launch")
            w.rankRef(m.rank)
            w.field("argv", m.argv)
            w.field("env", m.env)
            if let cwd = m.cwd { w.field("cwd", cwd) }
            w.field("logDir", m.logDir)
            if let limit = m.maxLogFileBytes { w.field("maxLogFileBytes", limit) }
            if let warm = m.warm {
                w.key("warm")
                w.object { w in
                    w.field("python", warm.python)
                    w.field("options", warm.options)
                    w.field("preload", warm.preload)
                    w.field("env", warm.env)
                    if let cwd = warm.cwd { w.field("cwd", cwd) }
                }
            }
        }
        return w.bytes
    }
}
