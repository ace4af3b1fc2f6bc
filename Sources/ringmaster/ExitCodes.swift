import ArgumentParser

extension ExitCode {
    /// A manifest or inventory failed validation (sysexits' EX_DATAERR).
    static let invalidManifest = ExitCode(65)
}
