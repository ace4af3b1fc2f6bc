import Foundation
import RingmasterTestKit
import SSHNodes
import Testing

/// The check that keeps a build needing the Swift runtime off SSH hosts, on real files: this toolchain's
/// builds, a system executable, and damaged copies.
@Suite struct DeployableBuildTests {
    /// The agent the tests deploy is the release build (`make test` sets RINGMASTER_AGENT): static.
    @Test func theBuiltAgentNeedsNoSwiftRuntimeButTheCLIDoesAndIsRefusedByName() throws {
        let agent = try ELFDependencies(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: TestEnvironment.agentExecutable))))
        #expect(agent.swiftRuntime.isEmpty, "\(TestEnvironment.agentExecutable) needs \(agent.needed): run the tests through `make test` (RINGMASTER_AGENT = the release agent)")
        try DeployableBuild.check(TestEnvironment.agentExecutable, role: "the agent")

        // The debug CLI links the runtime dynamically: exactly what a host without Swift cannot run.
        let ringmaster = try BuiltProducts.executable("ringmaster")
        let cli = try ELFDependencies(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: ringmaster))))
        #expect(cli.swiftRuntime.contains { $0.hasPrefix("libswiftCore") }, "\(cli.needed)")
        let refused = #expect(throws: DeployableBuild.Refused.self) {
            try DeployableBuild.check(ringmaster, role: "the agent")
        }
        #expect(refused?.description.contains(ringmaster) == true)
        #expect(refused?.description.contains("libswiftCore") == true)
        #expect(refused?.description.contains("hint:") == true)
    }

    @Test func aSystemExecutableNeedsOnlyTheCLibrary() throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: "/bin/true")))
        let needs = try ELFDependencies(bytes: bytes)
        #expect(needs.needed.contains { $0.hasPrefix("libc.so") })
        #expect(needs.swiftRuntime.isEmpty)
    }

    @Test func truncatedOrForeignBytesAreMalformedNeverACrash() throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: "/bin/true")))
        #expect(throws: ELFDependencies.Malformed.self) { try ELFDependencies(bytes: Array("#!/bin/sh\n".utf8)) }
        #expect(throws: ELFDependencies.Malformed.self) { try ELFDependencies(bytes: []) }
        // Every prefix of a real file either parses or is an error; none traps.
        for length in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 997)) {
            _ = try? ELFDependencies(bytes: Array(bytes[0..<length]))
        }
        var wild = bytes
        for at in stride(from: 0x28, to: 0x40, by: 1) { wild[at] = 0xFF }  // section header table far past the end
        #expect(throws: ELFDependencies.Malformed.self) { try ELFDependencies(bytes: wild) }
    }
}
