/// Slurm's time-limit notation (`--time`): minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
public enum SlurmTimeLimit {
    public static func isUnlimited(_ text: String) -> Bool {
        ["unlimited", "infinite"].contains(text.lowercased())
    }

    /// Seconds of a limit, nil when `text` is not one (or is unlimited).
    public static func seconds(_ text: String) -> Int? {
        func number(_ s: Substring) -> Int? {
            guard !s.isEmpty, s.count <= 6, s.allSatisfy(\.isASCII), let v = Int(s), v >= 0 else { return nil }
            return v
        }
        let dayParts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard dayParts.count <= 2 else { return nil }
        let clock = dayParts.last!.split(separator: ":", omittingEmptySubsequences: false).map(number)
        guard !clock.contains(where: { $0 == nil }) else { return nil }
        let c = clock.map { $0! }
        if dayParts.count == 2 {
            guard let days = number(dayParts[0]) else { return nil }
            switch c.count {
            case 1: return days * 86400 + c[0] * 3600
            case 2: return days * 86400 + c[0] * 3600 + c[1] * 60
            case 3: return days * 86400 + c[0] * 3600 + c[1] * 60 + c[2]
            default: return nil
            }
        }
        switch c.count {
        case 1: return c[0] * 60
        case 2: return c[0] * 60 + c[1]
        case 3: return c[0] * 3600 + c[1] * 60 + c[2]
        default: return nil
        }
    }
}
