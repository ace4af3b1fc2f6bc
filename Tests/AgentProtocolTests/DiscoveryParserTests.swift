import AgentProtocol
import RingmasterModel
import Testing

/// Fixtures in the documented output formats of the tools, and broken variants.
@Suite struct DiscoveryParserTests {
    @Test func nvidiaSMI() {
        let out = """
            0, GPU-8f6c3a0e-8d43-1c1a-5f2e-0a6b1b6d2c11, NVIDIA H100 80GB HBM3, 81559
            1, GPU-1a2b3c4d-0000-1111-2222-333344445555, NVIDIA H100 80GB HBM3, 81559

            """
        let r = AcceleratorDiscovery.parseNvidiaSMI(out)
        #expect(r.warnings.isEmpty)
        #expect(r.accelerators.count == 2)
        #expect(r.accelerators[1] == Accelerator(
            index: 1, uuid: "GPU-1a2b3c4d-0000-1111-2222-333344445555", name: "NVIDIA H100 80GB HBM3", kind: .nvidia,
            memoryBytes: 81559 * 1024 * 1024))
    }

    @Test func nvidiaSMIUnknownMemoryAndCommaInName() {
        let r = AcceleratorDiscovery.parseNvidiaSMI("0, GPU-a, Tesla T4, rev A, [N/A]\n")
        #expect(r.warnings.isEmpty)
        #expect(r.accelerators.first?.name == "Tesla T4, rev A")
        #expect(r.accelerators.first?.memoryBytes == nil)
    }

    @Test func nvidiaSMIMalformed() {
        let out = """
            NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.
            x, GPU-b, A100, 40536
            2, , A100, 40536
            3, GPU-c, A100, lots
            4, GPU-d, A100-SXM4-40GB, 40536
            """
        let r = AcceleratorDiscovery.parseNvidiaSMI(out)
        #expect(r.accelerators.map(\.index) == [4])
        #expect(r.warnings.count == 4)
        #expect(AcceleratorDiscovery.parseNvidiaSMI("").accelerators.isEmpty)
    }

    @Test func rocmSMI() {
        let out = """
            {"card0": {"Card series": "AMD Instinct MI210", "Card model": "0x0c34", "Card vendor": "Advanced Micro Devices, Inc. [AMD/ATI]",
              "Card SKU": "D67301", "Unique ID": "0x9d2f0c3a1b2c3d4e", "VRAM Total Memory (B)": "68702699520", "VRAM Total Used Memory (B)": "10960896"},
             "card1": {"Card series": "AMD Instinct MI210", "Unique ID": "N/A", "VRAM Total Memory (B)": "68702699520"},
             "system": {"Driver version": "6.2.4"}}
            """
        let r = AcceleratorDiscovery.parseROCmSMI(out)
        #expect(r.warnings.isEmpty)
        #expect(r.accelerators.count == 2)
        #expect(r.accelerators[0] == Accelerator(
            index: 0, uuid: "0x9d2f0c3a1b2c3d4e", name: "AMD Instinct MI210", kind: .amd, memoryBytes: 68_702_699_520))
        #expect(r.accelerators[1].uuid == "amd-card1")
    }

    @Test func rocmSMIMalformed() {
        #expect(AcceleratorDiscovery.parseROCmSMI("WARNING: No AMD GPUs specified").warnings.count == 1)
        #expect(AcceleratorDiscovery.parseROCmSMI("[1,2]").warnings.count == 1)
        let r = AcceleratorDiscovery.parseROCmSMI(#"{"cardX": {}, "card0": "oops", "card1": {"VRAM Total Memory (B)": "junk"}}"#)
        #expect(r.warnings.count == 2)
        #expect(r.accelerators.map(\.memoryBytes) == [nil])
    }

    @Test func amdSysfs() {
        let r = AcceleratorDiscovery.parseAMDSysfs([
            .init(card: "card1", vendor: "0x1002\n", vramTotal: "34342961152\n", uniqueID: "1234\n"),
            .init(card: "card0", vendor: "0x1af4\n"),  // virtio GPU
            .init(card: "card2", vendor: "0x1002\n", vramTotal: "garbage"),
            .init(card: "card3", vendor: "0x10de\n", vramTotal: "1"),
        ])
        #expect(r.accelerators.map(\.uuid) == ["1234"])
        #expect(r.accelerators.first?.memoryBytes == 34_342_961_152)
        #expect(r.warnings.count == 1)
    }

    @Test func discoveryCommandJSON() {
        let out = #"{"accelerators": [{"index": 0, "uuid": "tpu-0", "name": "TPU v5e", "kind": "tpu", "memoryBytes": 17179869184}, {"kind": "tpu"}]}"#
        let r = AcceleratorDiscovery.parseDiscoveryJSON(out)
        #expect(r.warnings.isEmpty)
        #expect(r.accelerators == [
            Accelerator(index: 0, uuid: "tpu-0", name: "TPU v5e", kind: AcceleratorKind(rawValue: "tpu"), memoryBytes: 17_179_869_184),
            Accelerator(index: 1, uuid: "tpu-1", name: "tpu", kind: AcceleratorKind(rawValue: "tpu")),
        ])
        #expect(AcceleratorDiscovery.parseDiscoveryJSON(#"[{"kind": "npu", "index": 3}]"#).accelerators.first?.index == 3)
    }

    @Test func discoveryCommandMalformed() {
        #expect(AcceleratorDiscovery.parseDiscoveryJSON("{").warnings.count == 1)
        #expect(AcceleratorDiscovery.parseDiscoveryJSON(#"{"devices": []}"#).warnings.count == 1)
        #expect(AcceleratorDiscovery.parseDiscoveryJSON(#"[1, {"kind": "x", "index": -1}]"#).warnings.count == 2)
        #expect(AcceleratorDiscovery.parseDiscoveryJSON("42").warnings.count == 1)
    }

    @Test func procParsers() {
        #expect(HostProbeParsing.cpuModel(cpuinfo: "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9654\n") == "AMD EPYC 9654")
        let mem = HostProbeParsing.meminfo("MemTotal:       24683656 kB\nMemAvailable:   20000000 kB\nHugePages_Total:       0\n")
        #expect(mem["MemTotal"] == 24_683_656 * 1024)
        #expect(mem["HugePages_Total"] == 0)
        #expect(HostProbeParsing.osPrettyName(osRelease: "NAME=x\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n") == "Debian GNU/Linux 12 (bookworm)")
        let t = HostProbeParsing.cpuTimes(procStat: "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n")
        #expect(t?.busy == 150 && t?.total == 1000)
        let s = HostProbeParsing.processGroupAndRSS(procPIDStat: "123 (my (odd) name) S 1 456 456 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 5 1000 77 0")
        #expect(s?.pgrp == 456 && s?.rssPages == 77)
        #expect(HostProbeParsing.processGroupAndRSS(procPIDStat: "garbage") == nil)
    }
}
