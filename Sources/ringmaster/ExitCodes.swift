import ArgumentParser
import Controller
import ControllerAPI
import StateStore

extension ExitCode {
    /// A manifest or inventory failed validation (sysexits' EX_DATAERR).
    static let invalidManifest = ExitCode(65)
}

/// A state directory that cannot be used, as the exit code the CLI documents: 73 when others can write it,
/// 75 when a controller or `ringmaster run` holds it or another process holds its database's lock, 74 when
/// its database cannot be written (a full filesystem, an I/O error); the error printed as it says.
enum StateDirectoryExit {
    static func map<T>(_ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let refused as StateDirectory.UnsafeError {
            Output.error("error: \(refused)")
            throw ExitCode(73)
        } catch let locked as StateDirectory.LockedError {
            Output.error("error: \(locked)")
            throw ExitCode(75)
        } catch let store as StoreError where store.isTransient {
            Output.error("error: \(store)")
            if case .locked = store { throw ExitCode(75) }
            throw ExitCode(74)
        }
    }
}
