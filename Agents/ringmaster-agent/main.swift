// ringmaster-agent: the node agent. `--stdio` speaks the agent protocol on stdin/stdout; logs go to stderr.
import AgentProtocol
import SystemUtilities

#if canImport(Glibc)
import Glibc
#endif

let options: AgentOptions
do {
    options = try AgentOptions.parse(Array(CommandLine.arguments.dropFirst()))
} catch {
    agentLog("\(error)")
    exit(2)
}

switch options.mode {
case .buildHash:
    do {
        print(try POSIX.sha256(ofFile: "/proc/self/exe"))
        exit(0)
    } catch {
        agentLog("cannot hash own executable: \(error)")
        exit(1)
    }
case .execRank(let parentPID, let cwd, let argv):
    execRank(parentPID: parentPID, cwd: cwd, argv: argv)
case .stdio:
    POSIX.ignoreSIGPIPE()
    let agent = Agent(options: options)
    agent.run()
}
