/// The controller's launches (4,096 at once when a large job starts or restarts) written without
/// `JSONEncoder`; the agent reads them with `JSONDecoder` as before.
public enum ControllerMessageFastPath {
    public static func encode(_ message: ControllerMessage) -> [UInt8]? {
        guard case .launch(let m) = message else { return nil }
        var w = JSONLineWriter()
        w.object { w in
            w.field("type", "launch")
            w.rankRef(m.rank)
            w.key("argv")
            w.array(m.argv) { w, arg in w.string(arg) }
            w.key("env")
            w.object { w in
                for key in m.env.keys.sorted() { w.field(key, m.env[key]!) }
            }
            if let cwd = m.cwd { w.field("cwd", cwd) }
            w.field("logDir", m.logDir)
            if let limit = m.maxLogFileBytes { w.field("maxLogFileBytes", limit) }
        }
        return w.bytes
    }
}
