#if canImport(Glibc)
import Glibc
#endif

/// The names and addresses of a network-namespace test cluster of `hostCount` hosts: pure, so the plan for
/// any size is checked without root. Host `i` (1-based) is namespace `PREFIX-hI` at 10.213.0.(10 + i),
/// joined to the switch namespace's bridge through switch port `vhI`; the controller is 10.213.0.1.
public struct NetnsLayout: Hashable, Sendable {
    public static let subnet = "10.213.0"
    /// Host addresses run from .11 up to .254 (the /24's last before its broadcast .255): 244 hosts.
    public static let maxHosts = 244

    public let prefix: String
    public let hostCount: Int

    public struct HostCountOutOfRange: Error, CustomStringConvertible {
        public var hostCount: Int
        public var description: String {
            "NetnsCluster hostCount \(hostCount) is outside 1...\(NetnsLayout.maxHosts): hosts are " +
                "\(NetnsLayout.subnet).11 up to .254 on one /24 (the controller is .1)"
        }
    }

    public init(prefix: String, hostCount: Int) throws(HostCountOutOfRange) {
        guard (1...Self.maxHosts).contains(hostCount) else { throw HostCountOutOfRange(hostCount: hostCount) }
        self.prefix = prefix
        self.hostCount = hostCount
    }

    /// A prefix of this process and a random draw, so that concurrent test processes never share a name.
    public static func uniquePrefix() -> String { "rmt\(getpid() % 100_000)\(Int.random(in: 10...99))" }

    public var switchNamespace: String { "\(prefix)-sw" }
    public var controllerNamespace: String { "\(prefix)-ctl" }
    public var controllerAddress: String { "\(Self.subnet).1" }
    public var hostIndices: ClosedRange<Int> { 1...hostCount }

    public func hostName(_ i: Int) -> String { "h\(i)" }
    public func hostNamespace(_ i: Int) -> String { "\(prefix)-h\(i)" }
    public func hostAddress(_ i: Int) -> String { "\(Self.subnet).\(10 + i)" }
    /// The host's veth end in the switch namespace (the host's own end is `eth0`).
    public func switchPort(_ i: Int) -> String { "vh\(i)" }

    /// Every namespace of the cluster: switch, controller, hosts.
    public var allNamespaces: [String] { [switchNamespace, controllerNamespace] + hostIndices.map(hostNamespace) }
}
