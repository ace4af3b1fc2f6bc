import AgentCore
import AgentProtocol
import RingmasterModel
import Testing

@Suite struct LaunchTests {
    @Test func launchSpawnsWithTheCompleteEnvironmentThenReportsStarted() throws {
        let h = Harness(
            AgentConfiguration(defaultPath: "/agent/bin", collectivesLibrary: "/opt/libRingmasterC.so", stateDirectory: "/state", agentPID: 42))
        let ref = rankRef(0)
        let request = LaunchRequest(rank: ref, argv: ["python3", "train.py"], env: ["RANK": "0"], cwd: "/work", logDir: "/logs")
        let spawn = h.at(5, controller: .launch(request))
        #expect(spawn.count == 1)
        let s = try #require(spawn.spawns.first)
        #expect(s.controlPath == "/state/a42-1.sock")
        #expect(s.request.argv == ["python3", "train.py"] && s.request.cwd == "/work" && s.request.logDir == "/logs")
        #expect(
            s.request.env == [
                "RANK": "0", "PATH": "/agent/bin", "RINGMASTER_CONTROL": "/state/a42-1.sock",
                "RINGMASTER_LIBRARY": "/opt/libRingmasterC.so",
            ])
        #expect(h.at(6, .spawned(ref, pid: 1000)) == [.send(.started(RankStarted(rank: ref, pid: 1000)))])
        #expect(h.core.ranks[ref]?.pid == 1000)
    }

    @Test func theRanksOwnPathAndLibraryWin() {
        let h = Harness(AgentConfiguration(defaultPath: "/agent/bin", collectivesLibrary: "/opt/lib.so"))
        let env = ["PATH": "/mine", "RINGMASTER_LIBRARY": "/my/lib.so"]
        let spawn = h.at(0, controller: .launch(LaunchRequest(rank: rankRef(0), argv: ["x"], env: env, logDir: "/l")))
        #expect(spawn.spawns.first?.request.env["PATH"] == "/mine")
        #expect(spawn.spawns.first?.request.env["RINGMASTER_LIBRARY"] == "/my/lib.so")
    }

    @Test func eachRankGetsItsOwnReportSocket() {
        let h = Harness()
        let first = h.launch(0, pid: 100)
        let second = h.launch(1, pid: 101)
        #expect(first.spawns.map(\.controlPath) == ["/state/a42-1.sock"])
        #expect(second.spawns.map(\.controlPath) == ["/state/a42-2.sock"])
    }

    @Test func aFailedSpawnIsAnExitWithStatus127AndTheReason() {
        let h = Harness()
        let ref = rankRef(3)
        h.at(0, controller: .launch(LaunchRequest(rank: ref, argv: ["/nonexistent/trainer"], logDir: "/l")))
        let actions = h.at(1, .spawnFailed(ref, reason: "executable not found: /nonexistent/trainer"))
        #expect(actions.exits == [RankExited(rank: ref, status: 127, error: "executable not found: /nonexistent/trainer")])
        #expect(actions.contains(.log("launch \(ref): executable not found: /nonexistent/trainer")))
        #expect(h.core.ranks.isEmpty)
    }

    @Test func anEmptyArgvNeverReachesTheShell() {
        let h = Harness()
        let actions = h.at(0, controller: .launch(LaunchRequest(rank: rankRef(0), argv: [], logDir: "/l")))
        #expect(actions.spawns.isEmpty)
        #expect(actions.exits == [RankExited(rank: rankRef(0), status: 127, error: "empty argv")])
    }

    @Test func launchingARunningRankAgainIsRefused() {
        let h = Harness()
        h.launch(0, pid: 100)
        let again = h.at(10, controller: .launch(LaunchRequest(rank: rankRef(0), argv: ["train"], logDir: "/l")))
        #expect(again.spawns.isEmpty)
        #expect(again.exits == [RankExited(rank: rankRef(0), error: "rank \(rankRef(0)) is already running as pid 100")])
        #expect(h.core.ranks[rankRef(0)]?.pid == 100)
    }

    @Test func messagesAfterALaunchWaitForItsOutcome() {
        // One read holding a launch, a signal for that rank and a second launch: the signal must reach the new
        // pid, so nothing after the launch is acted on before the shell answers the spawn.
        let h = Harness()
        let a = rankRef(0)
        let b = rankRef(1)
        let first = h.at(
            0,
            controller: .launch(LaunchRequest(rank: a, argv: ["train"], logDir: "/l")),
            .signal(SignalRequest(rank: a, signal: SIGINT)), .launch(LaunchRequest(rank: b, argv: ["train"], logDir: "/l")))
        #expect(first.count == 1 && first.spawns.map(\.request.rank) == [a])
        let second = h.at(1, .spawned(a, pid: 100))
        #expect(second.messages == [.started(RankStarted(rank: a, pid: 100))])
        #expect(second.signals == [Signalled(pid: 100, signal: SIGINT)])
        #expect(second.spawns.map(\.request.rank) == [b])
        #expect(h.at(2, .spawned(b, pid: 101)).messages == [.started(RankStarted(rank: b, pid: 101))])
    }

    @Test func exitReportsStatusOrSignalAndClosesTheRank() {
        let h = Harness()
        h.launch(0, pid: 100)
        h.launch(1, pid: 101)
        let first = h.at(50, .rankExited(rankRef(0), .exited(3), finalReports: []))
        #expect(first == [.closeRank(rankRef(0)), .send(.exited(RankExited(rank: rankRef(0), status: 3)))])
        let second = h.at(60, .rankExited(rankRef(1), .signaled(SIGKILL), finalReports: []))
        #expect(second.exits == [RankExited(rank: rankRef(1), signal: SIGKILL)])
        #expect(h.core.ranks.isEmpty)
        // The same rank can run again once it is gone.
        #expect(h.launch(0, pid: 200, at: 70).messages == [.started(RankStarted(rank: rankRef(0), pid: 200))])
    }

    @Test func whatARankLeftBehindGoesBeforeItsExit() {
        let h = Harness()
        let ref = rankRef(0)
        h.launch(0, pid: 100)
        h.at(10, .rankOutput(ref, .stdout, bytes("out-1\nout-2\nno newline")))
        h.at(11, .rankOutput(ref, .stderr, bytes("err-1\n")))
        let actions = h.at(12, .rankExited(ref, .exited(0), finalReports: [bytes("checkpoint 7"), bytes("step 8")]))
        #expect(
            actions == [
                .send(.log(LogBatch(rank: ref, stream: .stdout, lines: ["out-1", "out-2", "no newline"]))),
                .send(.log(LogBatch(rank: ref, stream: .stderr, lines: ["err-1"]))),
                .send(.checkpoint(CheckpointReport(rank: ref, step: 7))),
                .send(.progress(RankProgress(rank: ref, step: 8))),
                .closeRank(ref),
                .send(.exited(RankExited(rank: ref, status: 0))),
            ])
        // Nothing is left to flush for the rank that is gone.
        #expect(h.at(200, .tick).logBatches.isEmpty)
    }

    @Test func reportsBecomeMessagesAndMalformedLinesAreCounted() {
        let h = Harness()
        let ref = rankRef(0)
        h.launch(0, pid: 100)
        var messages: [AgentMessage] = []
        for datagram in ["step 1", "metric loss 0.5", "garbage here", "checkpoint 1", "section eval 90.5", "section end", "step 2\nstep x"] {
            messages += h.at(10, .rankReport(ref, datagram: bytes(datagram))).messages
        }
        #expect(
            messages == [
                .progress(RankProgress(rank: ref, step: 1)), .progress(RankProgress(rank: ref, metric: "loss", value: 0.5)),
                .checkpoint(CheckpointReport(rank: ref, step: 1)), .section(SectionReport(rank: ref, name: "eval", seconds: 90.5)),
                .section(SectionReport(rank: ref, name: nil, seconds: nil)), .progress(RankProgress(rank: ref, step: 2)),
            ])
        #expect(h.core.malformedReports == 2)
        #expect(h.at(1000, .tick).heartbeats.first?.malformedReports == 2)
    }
}
