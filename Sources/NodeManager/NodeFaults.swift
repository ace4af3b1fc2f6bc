import RingmasterModel

/// A failure a transport can inject into its own nodes (`ringmaster chaos` on a simulated cluster).
public enum NodeFault: Hashable, Sendable {
    /// The node dies: its agent and ranks are gone at once, its channel ends (as after SIGKILL to a local agent).
    case kill
    /// The agent freezes (as after SIGSTOP): it reads nothing and sends nothing, not even heartbeats; its ranks'
    /// reports go nowhere.
    case stopAgent
    /// No byte crosses between the controller and these nodes, either way, for this long; new connections to them
    /// fail meanwhile. Each side's silence limit decides what happens.
    case partition(Duration)
}

/// A transport that can inject `NodeFault`s into its nodes.
public protocol NodeFaultInjecting: Sendable {
    /// Injects `fault` into every node of `nodes`; returns what was done, or throws what could not be.
    func inject(_ fault: NodeFault, into nodes: [NodeID]) throws(NodeFaultRefusal) -> String
}

/// Why a fault could not be injected.
public struct NodeFaultRefusal: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension NodeManager {
    /// Injects `fault` through the transport; nil when the transport cannot inject faults (real hosts).
    public func inject(_ fault: NodeFault, into nodes: [NodeID]) -> Result<String, NodeFaultRefusal>? {
        guard let injector = transport as? any NodeFaultInjecting else { return nil }
        return Result { () throws(NodeFaultRefusal) in try injector.inject(fault, into: nodes) }
    }
}
