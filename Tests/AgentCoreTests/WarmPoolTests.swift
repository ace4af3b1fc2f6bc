import AgentCore
import AgentProtocol
import Foundation
import RingmasterModel
import Testing

/// Warm interpreters in the agent's core: a pool fills after its delay, a launch that names its kind takes the
/// oldest waiting interpreter and the pool refills after the delay, a launch finding none starts a process, a
/// kind whose interpreters keep dying is turned off, and the agent's exit takes the waiting ones with it.
@Suite struct WarmPoolTests {
    static let kind = WarmSpec(python: "/venv/bin/python", options: ["-u"], preload: ["torch"], env: ["OMP_NUM_THREADS": "1"],
                               cwd: "/work")

    static func pool(_ size: Int, delay: Int = 1000) -> ControllerMessage {
        .warmPool(WarmPoolRequest(spec: kind, size: size, refillDelayMilliseconds: delay))
    }

    static func launch(_ rank: Int, warm: WarmSpec? = kind) -> ControllerMessage {
        .launch(LaunchRequest(rank: rankRef(rank), argv: ["/venv/bin/python", "-u", "train.py"], logDir: "/logs", warm: warm))
    }

    /// A pool of 2 asked for at 0 ms with a 1 s delay: its interpreters start at 1 s, not before.
    func filled(_ h: Harness) -> [Int32] {
        #expect(h.at(0, controller: Self.pool(2)).isEmpty)
        #expect(h.at(999, .tick).startWarms.isEmpty)
        #expect(h.core.nextWake! <= .milliseconds(1000))
        #expect(h.at(1000, .tick).startWarms == [Self.kind, Self.kind])
        h.at(1000, .warmStarted(Self.kind, pid: 500))
        h.at(1000, .warmStarted(Self.kind, pid: 501))
        #expect(h.core.warm.idlePIDs == [500, 501])
        return [500, 501]
    }

    @Test func aPoolFillsAfterItsDelayAndALaunchTakesTheOldestInterpreter() {
        let h = Harness()
        _ = filled(h)
        let spawns = h.at(1500, controller: Self.launch(0)).spawns
        #expect(spawns.map(\.warmPID) == [500])
        #expect(spawns.first?.request.env["RINGMASTER_CONTROL"] != nil)
        h.at(1500, .spawned(rankRef(0), pid: 500))
        #expect(h.core.ranks[rankRef(0)]?.pid == 500)
        #expect(h.core.warm.idlePIDs == [501])
        // The taken one is replaced one delay after the launch, not at once.
        #expect(h.at(2499, .tick).startWarms.isEmpty)
        #expect(h.at(2500, .tick).startWarms == [Self.kind])
    }

    @Test func interpretersBeingStartedCountTowardsThePool() {
        let h = Harness()
        h.at(0, controller: Self.pool(2, delay: 0))
        #expect(h.at(0, .tick).startWarms.count == 2)
        // Asked for again before the shell answered: nothing more starts, now or later.
        h.at(1, controller: Self.pool(2, delay: 0))
        #expect(h.at(2, .tick).startWarms.isEmpty)
        #expect(h.core.warm.nextRefill == nil)
        // Shrunk meanwhile: the one beyond the size goes as it comes up.
        h.at(3, controller: Self.pool(1, delay: 0))
        #expect(h.at(4, .warmStarted(Self.kind, pid: 500)).signals.isEmpty)
        #expect(h.at(5, .warmStarted(Self.kind, pid: 501)).signals == [Signalled(pid: 501, signal: SIGKILL)])
        #expect(h.core.warm.idlePIDs == [500])
    }

    @Test func aLaunchFindingNoWaitingInterpreterStartsAProcess() {
        let h = Harness()
        h.at(0, controller: Self.pool(1))
        let spawns = h.at(10, controller: Self.launch(0)).spawns
        #expect(spawns.count == 1 && spawns[0].warmPID == nil)
        // A launch of another kind, or of none, never takes one.
        h.at(10, .spawned(rankRef(0), pid: 100))
        h.at(1000, .tick)
        h.at(1000, .warmStarted(Self.kind, pid: 500))
        var other = Self.kind
        other.preload = ["numpy"]
        #expect(h.at(1100, controller: Self.launch(1, warm: other)).spawns.map(\.warmPID) == [nil])
        h.at(1100, .spawned(rankRef(1), pid: 101))
        #expect(h.at(1100, controller: Self.launch(2, warm: nil)).spawns.map(\.warmPID) == [nil])
        #expect(h.core.warm.idlePIDs == [500])
    }

    @Test func shrinkingOrDroppingAPoolStopsItsWaitingInterpreters() {
        let h = Harness()
        _ = filled(h)
        #expect(h.at(1100, controller: Self.pool(1)).signals == [Signalled(pid: 501, signal: SIGKILL)])
        #expect(h.at(1200, controller: Self.pool(0)).signals == [Signalled(pid: 500, signal: SIGKILL)])
        #expect(h.core.warm.pools.isEmpty)
        // Their exits are not failures of anything.
        #expect(h.at(1300, .warmExited(pid: 500, .signaled(SIGKILL), output: "")).isEmpty)
        // One that comes up after its pool was dropped goes at once.
        #expect(h.at(1400, .warmStarted(Self.kind, pid: 502)).signals == [Signalled(pid: 502, signal: SIGKILL)])
    }

    @Test func aKindWhoseInterpretersDieBeforeAnyLaunchIsTurnedOff() {
        let h = Harness()
        h.at(0, controller: Self.pool(1, delay: 0))
        var pid: Int32 = 500
        var logs: [String] = []
        for attempt in 0..<3 {
            let t = attempt * 10
            #expect(h.at(t, .tick).startWarms == [Self.kind], "attempt \(attempt)")
            h.at(t, .warmStarted(Self.kind, pid: pid))
            logs += h.at(t + 5, .warmExited(pid: pid, .exited(1), output: "Traceback\nModuleNotFoundError: No module named 'torch'\n")).logs
            pid += 1
        }
        #expect(logs.first?.contains("exited with status 1 before a launch: Traceback | ModuleNotFoundError: No module named 'torch'") == true)
        #expect(logs.last?.contains("are off after 3 exits before any launch") == true)
        #expect(h.at(100, .tick).startWarms.isEmpty)
        #expect(h.core.warm.nextRefill == nil)
        // Its launches start processes; asking for the pool again does not turn it back on.
        h.at(200, controller: Self.pool(1, delay: 0))
        #expect(h.at(300, .tick).startWarms.isEmpty)
        #expect(h.at(300, controller: Self.launch(0)).spawns.map(\.warmPID) == [nil])
    }

    @Test func aFailureThatIsNotTheLimitIsRetriedAfterTheDelay() {
        let h = Harness()
        h.at(0, controller: Self.pool(1, delay: 100))
        h.at(100, .tick)
        let logged = h.at(100, .warmStartFailed(Self.kind, reason: "executable not found: /venv/bin/python")).logs
        #expect(logged == ["cannot start /venv/bin/python: executable not found: /venv/bin/python"])
        #expect(h.at(199, .tick).startWarms.isEmpty)
        #expect(h.at(200, .tick).startWarms == [Self.kind])
    }

    @Test func heartbeatsCountTheInterpretersReadyForALaunch() {
        let h = Harness()
        #expect(h.at(1000, .tick).heartbeats.first?.warmInterpreters == nil)
        h.at(1000, controller: Self.pool(2, delay: 0))
        h.at(1000, .tick)
        h.at(1000, .warmStarted(Self.kind, pid: 500))
        h.at(1000, .warmStarted(Self.kind, pid: 501))
        #expect(h.at(2000, .tick).heartbeats.first?.warmInterpreters == 0, "started, still importing")
        h.at(2100, .warmReady(pid: 501))
        #expect(h.at(3000, .tick).heartbeats.first?.warmInterpreters == 1)
    }

    @Test func aLaunchTakesAReadyInterpreterBeforeAnOlderOneStillImporting() {
        let h = Harness()
        _ = filled(h)
        h.at(1100, .warmReady(pid: 501))
        #expect(h.at(1200, controller: Self.launch(0)).spawns.map(\.warmPID) == [501])
        h.at(1200, .spawned(rankRef(0), pid: 501))
        #expect(h.core.warm.readyCount == 0)
        // None ready: the oldest, whose launch then waits for its imports.
        #expect(h.at(1300, controller: Self.launch(1)).spawns.map(\.warmPID) == [500])
    }

    @Test func theAgentsExitStopsAndAwaitsItsWaitingInterpreters() {
        let h = Harness()
        _ = filled(h)
        let actions = h.at(1100, .controllerClosed(reason: "stdin closed"))
        #expect(Set(actions.signals) == [Signalled(pid: 500, signal: SIGKILL), Signalled(pid: 501, signal: SIGKILL)])
        #expect(actions.exitAction == [500, 501])
        #expect(h.core.warm.pools.isEmpty)
    }

    @Test func theWireCarriesTheWarmKindOnALaunchAndThePoolRequest() throws {
        for message in [Self.launch(3), Self.pool(4)] {
            let line = try AgentWire.encodeLine(message)
            #expect(try AgentWire.decodeControllerMessage(line.dropLast()) == message)
        }
        let launch = WarmLaunch(program: ["-m", "train", "--x=1"], env: ["A": "é\"\n"], cwd: "/w")
        #expect(try JSONDecoder().decode(WarmLaunch.self, from: Data(launch.line.dropLast())) == launch)
    }
}

extension [AgentAction] {
    var startWarms: [WarmSpec] { compactMap { if case .startWarm(let s) = $0 { s } else { nil } } }
    var logs: [String] { compactMap { if case .log(let l) = $0 { l } else { nil } } }
}
