import AgentProtocol
import Foundation
import SystemUtilities
import Testing

/// The agent's own hash remembered beside its file: reused while the file is the same, never after a change.
struct BuildHashStampTests {
    let dir = NSTemporaryDirectory() + "rm-stamp-\(UUID().uuidString)"

    func file(_ contents: String) throws -> String {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/agent"
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Ten seconds ahead: the file looks settled, as an agent uploaded a while ago does.
    var later: Double { BuildHashStamp.realTime() + 10 }

    @Test func aSettledFileIsHashedOnceThenTakenFromTheStamp() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try file("build one")
        let expected = try POSIX.sha256(ofFile: path)
        #expect(try BuildHashStamp.sha256(ofFile: path, now: later) == (expected, false))
        #expect(try BuildHashStamp.sha256(ofFile: path, now: later) == (expected, true))
        #expect(FileManager.default.fileExists(atPath: path + ".sha256-stamp"))
    }

    @Test func aFilePutInItsPlaceIsHashedAgain() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try file("build one")
        _ = try BuildHashStamp.sha256(ofFile: path, now: later)
        _ = try file("build two")  // written under another name and renamed over: a new inode
        let result = try BuildHashStamp.sha256(ofFile: path, now: later)
        #expect(result == (try POSIX.sha256(ofFile: path), false))
    }

    @Test func aFileChangedJustNowGetsNoStamp() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try file("build one")
        // Its change time is within one coarse clock tick of now: a write now might not move it.
        #expect(try BuildHashStamp.sha256(ofFile: path).fromStamp == false)
        #expect(!FileManager.default.fileExists(atPath: path + ".sha256-stamp"))
    }

    @Test func anUnreadableOrForeignStampIsIgnored() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try file("build one")
        let expected = try POSIX.sha256(ofFile: path)
        for stamp in ["", "v1 1 2 3 4 5 \(String(repeating: "0", count: 64))\n", "v0 garbage"] {
            try stamp.write(toFile: path + ".sha256-stamp", atomically: true, encoding: .utf8)
            #expect(try BuildHashStamp.sha256(ofFile: path, now: later) == (expected, false), "stamp `\(stamp)`")
        }
    }

    @Test func aHashRecordedAfterAnUploadIsTakenAsIsUntilTheFileChanges() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try file("build one")
        let expected = try POSIX.sha256(ofFile: path)
        BuildHashStamp.record(expected, forFile: path)
        #expect(try BuildHashStamp.sha256(ofFile: path) == (expected, true))
        _ = try file("build two")
        #expect(try BuildHashStamp.sha256(ofFile: path, now: later) == (try POSIX.sha256(ofFile: path), false))
    }
}
