import AgentProtocol
import RingmasterModel
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

/// How long a probe command (nvidia-smi, rocm-smi, the discovery command) may run before it is killed.
private let probeTimeout: Duration = .seconds(10)

/// Reads host facts and load from /proc, /etc and uname; runs the accelerator tools.
struct HostProbe {
    let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))
    private var lastCPU: (busy: UInt64, total: UInt64)?

    func facts() -> HostFacts {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, 255)
        var u = utsname()
        uname(&u)
        let kernel = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let sysname = withUnsafeBytes(of: &u.sysname) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let os = POSIX.readText("/etc/os-release").flatMap(HostProbeParsing.osPrettyName) ?? sysname
        let cpuModel = POSIX.readText("/proc/cpuinfo", limit: 64 << 10).flatMap(HostProbeParsing.cpuModel) ?? "unknown"
        let mem = POSIX.readText("/proc/meminfo").map(HostProbeParsing.meminfo)?["MemTotal"] ?? 0
        return HostFacts(
            hostname: stringFromCChars(name), os: os, kernel: kernel, cpuModel: cpuModel,
            cpuCount: sysconf(Int32(_SC_NPROCESSORS_ONLN)), memoryBytes: mem)
    }

    /// Simulated devices when asked; otherwise NVIDIA, AMD and the inventory's discovery command, in that order.
    func accelerators(options: AgentOptions, node: String) -> AcceleratorDiscovery.Result {
        if let sim = options.simulateAccelerators {
            return .init(accelerators: Accelerator.simulated(count: sim.count, kind: AcceleratorKind(rawValue: sim.kind), node: node))
        }
        var result = AcceleratorDiscovery.Result()
        let path = POSIX.currentEnvironment["PATH"]
        func merge(_ r: AcceleratorDiscovery.Result) {
            result.accelerators += r.accelerators
            result.warnings += r.warnings
        }
        if let smi = resolveExecutable("nvidia-smi", path: path, cwd: nil) {
            if let (status, out) = try? POSIX.capture([smi] + AcceleratorDiscovery.nvidiaSMIArguments.dropFirst(), mergeStderr: false, timeout: probeTimeout), status == .exited(0) {
                merge(AcceleratorDiscovery.parseNvidiaSMI(out))
            } else {
                result.warnings.append("nvidia-smi failed or timed out")
            }
        }
        if let rocm = resolveExecutable("rocm-smi", path: path, cwd: nil) {
            if let (status, out) = try? POSIX.capture([rocm] + AcceleratorDiscovery.rocmSMIArguments.dropFirst(), mergeStderr: false, timeout: probeTimeout), status == .exited(0) {
                merge(AcceleratorDiscovery.parseROCmSMI(out))
            } else {
                result.warnings.append("rocm-smi failed or timed out")
            }
        } else {
            merge(AcceleratorDiscovery.parseAMDSysfs(sysfsCards()))
        }
        if let command = options.discoveryCommand {
            if let (status, out) = try? POSIX.capture(["/bin/sh", "-c", command], mergeStderr: false, timeout: probeTimeout), status == .exited(0) {
                merge(AcceleratorDiscovery.parseDiscoveryJSON(out))
            } else {
                result.warnings.append("discovery command failed or timed out: \(command.prefix(200))")
            }
        }
        return result
    }

    private func sysfsCards() -> [AcceleratorDiscovery.SysfsCard] {
        guard let dir = opendir("/sys/class/drm") else { return [] }
        defer { closedir(dir) }
        var cards: [AcceleratorDiscovery.SysfsCard] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard name.hasPrefix("card"), name.dropFirst(4).allSatisfy(\.isNumber) else { continue }
            let base = "/sys/class/drm/\(name)/device/"
            guard let vendor = POSIX.readText(base + "vendor") else { continue }
            cards.append(
                .init(
                    card: name, vendor: vendor, vramTotal: POSIX.readText(base + "mem_info_vram_total"),
                    uniqueID: POSIX.readText(base + "unique_id"), productName: POSIX.readText(base + "product_name")))
        }
        return cards
    }

    /// Host load since the previous call.
    mutating func load() -> HostLoad {
        var busy = 0.0
        if let now = POSIX.readText("/proc/stat", limit: 8192).flatMap(HostProbeParsing.cpuTimes) {
            if let last = lastCPU, now.total > last.total {
                busy = Double(now.busy &- last.busy) / Double(now.total - last.total)
            }
            lastCPU = now
        }
        let mem = POSIX.readText("/proc/meminfo").map(HostProbeParsing.meminfo) ?? [:]
        let total = mem["MemTotal"] ?? 0
        let load1 = POSIX.readText("/proc/loadavg").flatMap { $0.split(separator: " ").first.flatMap { Double($0) } } ?? 0
        return HostLoad(
            cpuBusy: min(max(busy, 0), 1), loadAverage1m: load1, memoryUsedBytes: total - min(total, mem["MemAvailable"] ?? total),
            memoryTotalBytes: total)
    }

    /// Resident bytes of every process in each of `groups` (process group ids), one /proc scan.
    func residentBytes(ofGroups groups: Set<Int32>) -> [Int32: UInt64] {
        guard !groups.isEmpty, let dir = opendir("/proc") else { return [:] }
        defer { closedir(dir) }
        var out: [Int32: UInt64] = [:]
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard let first = name.utf8.first, first >= 48, first <= 57 else { continue }
            guard let stat = POSIX.readText("/proc/\(name)/stat", limit: 4096),
                let (pgrp, rss) = HostProbeParsing.processGroupAndRSS(procPIDStat: stat), groups.contains(pgrp)
            else { continue }
            out[pgrp, default: 0] += rss * pageSize
        }
        return out
    }

    func ownRSS() -> UInt64 {
        guard let statm = POSIX.readText("/proc/self/statm", limit: 256) else { return 0 }
        let f = statm.split(separator: " ")
        return f.count > 1 ? (UInt64(f[1]) ?? 0) * pageSize : 0
    }
}
