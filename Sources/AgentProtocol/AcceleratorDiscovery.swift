import RingmasterModel

/// Parsers of accelerator tools' output. Pure: the agent runs the tools, these read what they printed.
public enum AcceleratorDiscovery {
    /// The command the agent runs for NVIDIA devices.
    public static let nvidiaSMIArguments = [
        "nvidia-smi", "--query-gpu=index,uuid,name,memory.total", "--format=csv,noheader,nounits",
    ]
    /// The command the agent runs for AMD devices.
    public static let rocmSMIArguments = ["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--showuniqueid", "--json"]

    public struct Result: Hashable, Sendable {
        public var accelerators: [Accelerator]
        /// Lines or entries that could not be read; the rest still counts.
        public var warnings: [String]

        public init(accelerators: [Accelerator] = [], warnings: [String] = []) {
            self.accelerators = accelerators
            self.warnings = warnings
        }
    }

    /// `nvidia-smi --query-gpu=index,uuid,name,memory.total --format=csv,noheader,nounits`:
    /// one line per GPU, `0, GPU-8f6c…, NVIDIA H100 80GB HBM3, 81559` (memory in MiB; `[N/A]` when unknown).
    public static func parseNvidiaSMI(_ output: String) -> Result {
        var result = Result()
        for (n, rawLine) in output.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let line = rawLine.trimmingWhitespace
            if line.isEmpty { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingWhitespace }
            // A product name with a comma would split in two: the first two and the last field are fixed.
            guard fields.count >= 4 else {
                result.warnings.append("nvidia-smi line \(n + 1): expected 4 fields, got \(fields.count): \(line.prefix(200))")
                continue
            }
            let name = fields[2..<(fields.count - 1)].joined(separator: ", ")
            guard let index = Int(fields[0]), index >= 0 else {
                result.warnings.append("nvidia-smi line \(n + 1): bad index '\(fields[0].prefix(50))'")
                continue
            }
            let uuid = fields[1]
            guard !uuid.isEmpty, !name.isEmpty else {
                result.warnings.append("nvidia-smi line \(n + 1): empty uuid or name")
                continue
            }
            let memField = fields[fields.count - 1]
            var memory: UInt64?
            if let mib = UInt64(memField) {
                memory = mib * 1024 * 1024
            } else if !memField.hasPrefix("[") {  // [N/A], [Not Supported]
                result.warnings.append("nvidia-smi line \(n + 1): bad memory '\(memField.prefix(50))'")
                continue
            }
            result.accelerators.append(Accelerator(index: index, uuid: uuid, name: name, kind: .nvidia, memoryBytes: memory))
        }
        return result
    }

    /// `rocm-smi --showproductname --showmeminfo vram --showuniqueid --json`: an object with one `cardN` entry per
    /// GPU holding strings such as `"Card series"`, `"Unique ID"`, `"VRAM Total Memory (B)"`.
    public static func parseROCmSMI(_ output: String) -> Result {
        var result = Result()
        let value: JSONValue
        do {
            value = try JSONValue.parse(Array(output.utf8))
        } catch {
            result.warnings.append("rocm-smi: output is not JSON")
            return result
        }
        guard case .object(let cards) = value else {
            result.warnings.append("rocm-smi: output is not a JSON object")
            return result
        }
        for key in cards.keys.sorted() where key.hasPrefix("card") {
            guard let index = Int(key.dropFirst(4)), case .object(let card)? = cards[key] else {
                result.warnings.append("rocm-smi: unreadable entry '\(key.prefix(50))'")
                continue
            }
            let name =
                ["Card series", "Card Series", "Card SKU", "Card model", "Card Model"].lazy.compactMap { card[$0]?.text }
                .first { !$0.isEmpty } ?? "AMD GPU"
            let uuid = card["Unique ID"]?.text.flatMap { $0.isEmpty || $0 == "N/A" ? nil : $0 } ?? "amd-\(key)"
            let memory = card["VRAM Total Memory (B)"]?.integer.flatMap { $0 > 0 ? UInt64($0) : nil }
            result.accelerators.append(Accelerator(index: index, uuid: uuid, name: name, kind: .amd, memoryBytes: memory))
        }
        result.accelerators.sort { $0.index < $1.index }
        return result
    }

    /// One DRM card as read from `/sys/class/drm/cardN/device`.
    public struct SysfsCard: Hashable, Sendable {
        public var card: String
        /// Contents of `vendor`, e.g. `0x1002`.
        public var vendor: String
        /// Contents of `mem_info_vram_total` (amdgpu), when present.
        public var vramTotal: String?
        /// Contents of `unique_id`, when present.
        public var uniqueID: String?
        /// Contents of `product_name`, when present.
        public var productName: String?

        public init(card: String, vendor: String, vramTotal: String? = nil, uniqueID: String? = nil, productName: String? = nil) {
            self.card = card
            self.vendor = vendor
            self.vramTotal = vramTotal
            self.uniqueID = uniqueID
            self.productName = productName
        }
    }

    /// AMD GPUs from sysfs (vendor 0x1002 with amdgpu's `mem_info_vram_total`) when rocm-smi is missing.
    public static func parseAMDSysfs(_ cards: [SysfsCard]) -> Result {
        var result = Result()
        let amd = cards.filter { $0.vendor.trimmingWhitespace.lowercased() == "0x1002" && $0.vramTotal != nil }
            .sorted { (Int($0.card.dropFirst(4)) ?? .max, $0.card) < (Int($1.card.dropFirst(4)) ?? .max, $1.card) }
        for (index, card) in amd.enumerated() {
            guard let vram = card.vramTotal.flatMap({ UInt64($0.trimmingWhitespace) }) else {
                result.warnings.append("sysfs \(card.card): bad mem_info_vram_total")
                continue
            }
            let uuid = card.uniqueID.map(\.trimmingWhitespace).flatMap { $0.isEmpty ? nil : $0 } ?? "amd-\(card.card)"
            let name = card.productName.map(\.trimmingWhitespace).flatMap { $0.isEmpty ? nil : $0 } ?? "AMD GPU"
            result.accelerators.append(Accelerator(index: index, uuid: uuid, name: name, kind: .amd, memoryBytes: vram))
        }
        return result
    }

    /// Output of the inventory's discovery command: `{"accelerators": [...]}` or a bare array of
    /// `{"index", "uuid", "name", "kind", "memoryBytes"}` (only `kind` required; the rest defaulted).
    public static func parseDiscoveryJSON(_ output: String, defaultKind: String = "custom") -> Result {
        var result = Result()
        let value: JSONValue
        do {
            value = try JSONValue.parse(Array(output.utf8))
        } catch {
            result.warnings.append("discovery command: output is not JSON")
            return result
        }
        let list: [JSONValue]
        switch value {
        case .array(let a): list = a
        case .object(let o):
            guard case .array(let a)? = o["accelerators"] else {
                result.warnings.append("discovery command: no \"accelerators\" array")
                return result
            }
            list = a
        default:
            result.warnings.append("discovery command: expected an array or an object")
            return result
        }
        for (n, item) in list.enumerated() {
            guard case .object(let o) = item else {
                result.warnings.append("discovery command: entry \(n) is not an object")
                continue
            }
            let kind = o["kind"]?.text ?? defaultKind
            let index = o["index"]?.integer.map(Int.init) ?? n
            guard !kind.isEmpty, index >= 0 else {
                result.warnings.append("discovery command: entry \(n) has a bad kind or index")
                continue
            }
            let memory = (o["memoryBytes"] ?? o["memory_bytes"])?.integer.flatMap { $0 >= 0 ? UInt64($0) : nil }
            result.accelerators.append(
                Accelerator(
                    index: index, uuid: o["uuid"]?.text ?? "\(kind)-\(index)", name: o["name"]?.text ?? kind,
                    kind: AcceleratorKind(rawValue: kind), memoryBytes: memory))
        }
        return result
    }
}

/// Parsers of the /proc and /etc files the agent reads for host facts and load. Pure.
public enum HostProbeParsing {
    /// `model name` of the first processor in /proc/cpuinfo (or `Model`/`cpu model` on other architectures).
    public static func cpuModel(cpuinfo: String) -> String? {
        for line in cpuinfo.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = parts[0].trimmingWhitespace
            if key == "model name" || key == "Model" || key == "cpu model" || key == "cpu" {
                return parts[1].trimmingWhitespace
            }
        }
        return nil
    }

    /// Values (in bytes) of /proc/meminfo keys such as `MemTotal` and `MemAvailable`.
    public static func meminfo(_ text: String) -> [String: UInt64] {
        var out: [String: UInt64] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let words = parts[1].split(separator: " ")
            guard let n = words.first.flatMap({ UInt64($0) }) else { continue }
            out[String(parts[0])] = words.count > 1 && words[1] == "kB" ? n * 1024 : n
        }
        return out
    }

    /// `PRETTY_NAME` of /etc/os-release.
    public static func osPrettyName(osRelease: String) -> String? {
        for line in osRelease.split(separator: "\n") where line.hasPrefix("PRETTY_NAME=") {
            var v = line.dropFirst("PRETTY_NAME=".count)
            if v.first == "\"", v.last == "\"", v.count >= 2 { v = v.dropFirst().dropLast() }
            return String(v)
        }
        return nil
    }

    /// (busy, total) jiffies of the aggregate `cpu` line of /proc/stat.
    public static func cpuTimes(procStat: String) -> (busy: UInt64, total: UInt64)? {
        guard let line = procStat.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return nil }
        let v = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard v.count >= 4 else { return nil }
        let total = v.prefix(8).reduce(0, +)
        let idle = v[3] + (v.count > 4 ? v[4] : 0)
        return (total - idle, total)
    }

    /// (pgrp, rss pages) from /proc/PID/stat; the command name may hold spaces and parentheses.
    public static func processGroupAndRSS(procPIDStat: String) -> (pgrp: Int32, rssPages: UInt64)? {
        guard let close = procPIDStat.lastIndex(of: ")") else { return nil }
        let fields = procPIDStat[procPIDStat.index(after: close)...].split(separator: " ")
        // After the name: state(0) ppid(1) pgrp(2) … rss is field 24 of the line, index 21 here.
        guard fields.count > 21, let pgrp = Int32(fields[2]), let rss = UInt64(fields[21]) else { return nil }
        return (pgrp, rss)
    }
}
