import ControllerAPI
import Foundation

/// Printing helpers shared by the commands: tables for people, JSON for programs, errors on stderr.
enum Output {
    static func json(_ value: some Encodable) throws {
        let data = try APICoding.encoder(pretty: true).encode(value)
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    /// A line for operators: UTC time with milliseconds, then the text.
    static func timestamped(_ text: String) {
        let f = DateFormatter()
        f.dateFormat = "HH:mm:ss.SSS"
        f.timeZone = TimeZone(identifier: "UTC")
        FileHandle.standardOutput.write(Data("\(f.string(from: Date())) \(text)\n".utf8))
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
    }

    /// Left-aligned columns separated by two spaces; the header row first.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

extension Output {
    /// Prints a line and flushes at once: streamed output (events, logs) must not wait in a buffer.
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
