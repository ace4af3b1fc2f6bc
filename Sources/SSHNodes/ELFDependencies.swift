/// The shared libraries an ELF file names as needed (`DT_NEEDED` in its dynamic section), read from its
/// bytes: what decides whether a build can run on a host without a Swift toolchain. 64-bit little-endian
/// ELF only (x86_64, aarch64: the hosts Ringmaster deploys to); every offset is bounds-checked, so a
/// truncated or hostile file is an error, never a crash.
public struct ELFDependencies: Equatable, Sendable {
    /// In the order the file lists them. Empty for a statically linked executable (no dynamic section).
    public var needed: [String]

    public struct Malformed: Error, Equatable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    public init(needed: [String]) { self.needed = needed }

    public init(bytes: [UInt8]) throws(Malformed) {
        let file = Reader(bytes: bytes)
        guard bytes.count >= 64, bytes[0] == 0x7F, bytes[1] == 0x45, bytes[2] == 0x4C, bytes[3] == 0x46 else {
            throw Malformed(reason: "not an ELF file")
        }
        guard bytes[4] == 2, bytes[5] == 1 else { throw Malformed(reason: "not a 64-bit little-endian ELF file") }
        let sectionsAt = try file.u64(0x28), entrySize = UInt64(try file.u16(0x3A)), count = UInt64(try file.u16(0x3C))
        guard count == 0 || entrySize >= 64 else { throw Malformed(reason: "section header entries of \(entrySize) bytes") }
        var sections: [Section] = []
        for i in 0..<count {
            let (at, overflow) = sectionsAt.addingReportingOverflow(i * entrySize)
            guard !overflow, at < UInt64(bytes.count) else { throw Malformed(reason: "section headers past the end of the file") }
            sections.append(Section(
                type: try file.u32(at + 4), offset: try file.u64(at + 24), size: try file.u64(at + 32), link: try file.u32(at + 40)))
        }
        var needed: [String] = []
        for dynamic in sections where dynamic.type == 6 /* SHT_DYNAMIC */ {
            guard Int(dynamic.link) < sections.count else { throw Malformed(reason: "the dynamic section names no string table") }
            let strings = sections[Int(dynamic.link)]
            var at = dynamic.offset
            let (end, overflow) = dynamic.offset.addingReportingOverflow(dynamic.size)
            guard !overflow else { throw Malformed(reason: "the dynamic section runs past the end of the file") }
            guard dynamic.offset < UInt64(bytes.count) else { throw Malformed(reason: "the dynamic section lies past the end of the file") }
            while at <= end, end - at >= 16 {
                let tag = try file.u64(at), value = try file.u64(at + 8)
                if tag == 0 { break }  // DT_NULL
                if tag == 1 {  // DT_NEEDED: an offset into the string table
                    guard value < strings.size else { throw Malformed(reason: "a needed library's name lies outside its string table") }
                    let (name, o1) = strings.offset.addingReportingOverflow(value)
                    let (limit, o2) = strings.offset.addingReportingOverflow(strings.size)
                    guard !o1, !o2 else { throw Malformed(reason: "the string table runs past the end of the file") }
                    needed.append(try file.cString(name, limit: limit))
                }
                at += 16
            }
        }
        self.needed = needed
    }

    /// Libraries that come with a Swift toolchain, not with the operating system: a build that needs one
    /// runs only where Swift is installed.
    public var swiftRuntime: [String] {
        needed.filter { name in
            ["libswift", "libFoundation", "libdispatch", "libBlocksRuntime", "lib_FoundationICU"].contains { name.hasPrefix($0) }
        }
    }

    private struct Section {
        var type: UInt32
        var offset: UInt64
        var size: UInt64
        var link: UInt32
    }

    private struct Reader {
        var bytes: [UInt8]

        func u16(_ at: UInt64) throws(Malformed) -> UInt16 { UInt16(try value(at, 2)) }
        func u32(_ at: UInt64) throws(Malformed) -> UInt32 { UInt32(try value(at, 4)) }
        func u64(_ at: UInt64) throws(Malformed) -> UInt64 { try value(at, 8) }

        private func value(_ at: UInt64, _ width: Int) throws(Malformed) -> UInt64 {
            guard at <= UInt64(bytes.count), UInt64(bytes.count) - at >= UInt64(width) else {
                throw Malformed(reason: "truncated: a field at offset \(at) lies past the end of the file (\(bytes.count) bytes)")
            }
            var v: UInt64 = 0
            for i in (0..<width).reversed() { v = v << 8 | UInt64(bytes[Int(at) + i]) }
            return v
        }

        func cString(_ at: UInt64, limit: UInt64) throws(Malformed) -> String {
            let end = min(limit, UInt64(bytes.count))
            guard at < end else { throw Malformed(reason: "a library name at offset \(at) lies past the end of the file") }
            var i = Int(at)
            while UInt64(i) < end, bytes[i] != 0 { i += 1 }
            guard UInt64(i) < end else { throw Malformed(reason: "a library name at offset \(at) is not terminated") }
            return String(decoding: bytes[Int(at)..<i], as: UTF8.self)
        }
    }
}
