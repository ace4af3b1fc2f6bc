import ControllerHarness

extension ControllerProcess {
    /// Starts the built `ringmaster controller` (see `ControllerProcess.start(ringmaster:…)`).
    public static func start(cluster: String, stateDirectory: String, launcher: [String] = [], extra: [String] = [],
                             logFile: String? = nil) async throws -> ControllerProcess
    {
        try await start(ringmaster: try BuiltProducts.executable("ringmaster"), cluster: cluster, stateDirectory: stateDirectory,
                        launcher: launcher, extra: extra, logFile: logFile)
    }
}
