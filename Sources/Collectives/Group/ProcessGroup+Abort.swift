/// Abort: the one call that may come from another thread while an operation runs.
extension ProcessGroup {
    /// Ends the operation running on this group now, and every later one: its connections are shut down
    /// and the operation, like every later one, throws `closed`. Safe from any
    /// thread, also while another thread is blocked in an operation — the way out of a collective that waits
    /// on a hung peer when the controller asks a rank to abandon its step (an in-process rejoin). With
    /// `stopConnector` (the world group), connections still being dialled or accepted are ended too.
    /// The group stays to be closed by its owner.
    public func abort(stopConnector: Bool = false) {
        abortLock.withLock {
            aborted = true
            for fd in abortFDs { Socket.shutdownOnly(fd) }
        }
        if stopConnector { connector.shutdown() }
    }
}
