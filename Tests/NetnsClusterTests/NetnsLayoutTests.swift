import RingmasterSSHTestKit
import Testing

/// The namespace cluster's plan of names and addresses, for any size (no root needed).
struct NetnsLayoutTests {
    @Test(arguments: [1, 4, 16, NetnsLayout.maxHosts])
    func everyNameAndAddressIsDistinctAndFits(hostCount: Int) throws {
        let layout = try NetnsLayout(prefix: NetnsLayout.uniquePrefix(), hostCount: hostCount)
        #expect(Set(layout.allNamespaces).count == hostCount + 2)
        let addresses = layout.hostIndices.map(layout.hostAddress)
        #expect(Set(addresses + [layout.controllerAddress]).count == hostCount + 1)
        #expect(addresses.allSatisfy { Int($0.split(separator: ".").last!)! <= 254 }, "\(addresses.last!)")
        // Interface names (IFNAMSIZ: 15 bytes), the delay line's ports `dlNa`/`dlNb` included.
        let ports = layout.hostIndices.map(layout.switchPort) + layout.hostIndices.map { "dl\($0)a" }
        #expect(ports.allSatisfy { $0.utf8.count <= 15 }, "\(ports.max { $0.utf8.count < $1.utf8.count }!)")
        #expect(layout.hostNamespace(16) == "\(layout.prefix)-h16" && layout.hostAddress(16) == "10.213.0.26")
    }

    @Test(arguments: [0, -1, NetnsLayout.maxHosts + 1])
    func aCountOutsideTheSubnetIsRefusedSayingWhy(hostCount: Int) {
        #expect {
            _ = try NetnsLayout(prefix: "rmt", hostCount: hostCount)
        } throws: { error in
            let text = "\(error)"
            return text.contains("hostCount \(hostCount)") && text.contains("1...\(NetnsLayout.maxHosts)")
        }
    }
}
