import Controller
import ControllerAPI
import Foundation
import RingmasterTestKit
import Testing

@Suite struct StateDirectoryPermissions {
    func mode(_ path: String) -> mode_t {
        var st = stat()
        _ = stat(path, &st)
        return st.st_mode & 0o777
    }

    @Test func aNewStateDirectoryIsTheOwnersAloneAndAWorldWritableOneIsRefused() throws {
        try withTemporaryDirectory { dir in
            let state = StateDirectory("\(dir)/new/state")
            try state.create()
            #expect(mode(state.path) == 0o700)
            #expect(mode(state.logs) == 0o700)
            let open = "\(dir)/open"
            try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: false)
            chmod(open, 0o777)
            #expect(throws: StateDirectory.UnsafeError.self) { try StateDirectory(open).create() }
            let message = StateDirectory.UnsafeError(path: open, mode: 0o40777).description
            #expect(message == "the state directory \(open) is writable by other users (mode 777) — `chmod 700 \(open)`, or choose another with --state-dir")
            // Readable by others is fine (an operator's choice); writable by the group is not.
            chmod(open, 0o755)
            try StateDirectory(open).create()
            chmod(open, 0o775)
            #expect(throws: StateDirectory.UnsafeError.self) { try StateDirectory(open).create() }
        }
    }
}
