import Collectives
import Foundation

// The C ABI over `Collectives` for ranks written in other languages (the Python package loads it with
// ctypes). Handles are opaque retained pointers; every function that can fail returns a code (below)
// and writes a NUL-terminated message into `err` (at most `errlen` bytes). No Swift type crosses the
// boundary and no Swift error escapes it.
//
//   typedef void *rm_group_t;
//   int32_t rm_abi_version(void);
//   int32_t rm_world_join(int64_t timeout_ms, rm_group_t *out, char *err, size_t errlen);
//   int32_t rm_group_sub(rm_group_t world, int32_t kind, rm_group_t *out, char *err, size_t errlen);
//   int32_t rm_group_rank(rm_group_t g);
//   int32_t rm_group_size(rm_group_t g);
//   int32_t rm_allreduce(rm_group_t g, void *buf, int64_t count, int32_t dtype, int32_t op, int64_t timeout_ms, char *err, size_t errlen);
//   int32_t rm_broadcast(rm_group_t g, void *buf, int64_t count, int32_t dtype, int32_t root, int64_t timeout_ms, char *err, size_t errlen);
//   int32_t rm_barrier(rm_group_t g, int64_t timeout_ms, char *err, size_t errlen);
//   void rm_group_leave(rm_group_t g);
//   void rm_group_abort(rm_group_t g);        /* any thread, also during an operation */
//
// dtype: 1 float32, 2 float64, 3 float16, 4 bfloat16, 5 int32, 6 int64 (`DataType`); op: 1 sum, 2 avg,
// 3 min, 4 max (`ReduceOp`); kind: 0 tensor, 1 data, 2 pipeline; timeout_ms <= 0: the default.

/// One handle: a group, and for the world also its sub-groups (a sub-group's handle keeps the world's
/// box alive, since its connections go through the world's connector).
final class GroupBox {
    let group: ProcessGroup
    let groups: ParallelGroups?
    let world: GroupBox?

    init(group: ProcessGroup, groups: ParallelGroups?, world: GroupBox?) {
        self.group = group
        self.groups = groups
        self.world = world
    }
}

/// The codes of the ABI, one per `CollectiveError` case.
enum ABICode: Int32 {
    case ok = 0, timeout, peerLost, mismatch, refused, joinTimedOut, invalidArgument, closed, other

    init(_ error: CollectiveError) {
        switch error {
        case .timeout: self = .timeout
        case .peerLost: self = .peerLost
        case .mismatch: self = .mismatch
        case .refused: self = .refused
        case .joinTimedOut: self = .joinTimedOut
        case .invalidArgument: self = .invalidArgument
        case .closed: self = .closed
        }
    }
}

func box(_ handle: UnsafeMutableRawPointer?) -> GroupBox? {
    handle.map { Unmanaged<GroupBox>.fromOpaque($0).takeUnretainedValue() }
}

/// Writes `message` into the caller's buffer, truncated on a UTF-8 boundary, always NUL-terminated.
func report(_ message: String, _ err: UnsafeMutablePointer<CChar>?, _ errlen: Int) {
    guard let err, errlen > 0 else { return }
    var bytes = Array(message.utf8.prefix(errlen - 1))
    while let last = bytes.last, last & 0xC0 == 0x80 { bytes.removeLast() }
    if let last = bytes.last, last >= 0xC0 { bytes.removeLast() }
    for (i, b) in bytes.enumerated() { err[i] = CChar(bitPattern: b) }
    err[bytes.count] = 0
}

/// Runs `body`, turning a thrown `CollectiveError` into its code and message.
func call(_ err: UnsafeMutablePointer<CChar>?, _ errlen: Int, _ body: () throws(CollectiveError) -> Void) -> Int32 {
    do {
        try body()
        report("", err, errlen)
        return ABICode.ok.rawValue
    } catch {
        report(error.description, err, errlen)
        return ABICode(error).rawValue
    }
}

func timeout(_ ms: Int64) -> Duration? { ms > 0 ? .milliseconds(ms) : nil }

@_cdecl("rm_abi_version")
public func rm_abi_version() -> Int32 { 1 }

@_cdecl("rm_world_join")
public func rm_world_join(_ timeoutMs: Int64, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                          _ err: UnsafeMutablePointer<CChar>?, _ errlen: Int) -> Int32 {
    guard let out else {
        report("rm_world_join: out is NULL", err, errlen)
        return ABICode.invalidArgument.rawValue
    }
    out.pointee = nil
    return call(err, errlen) { () throws(CollectiveError) in
        var options = GroupOptions()
        if let t = timeout(timeoutMs) { options.joinTimeout = t }
        let groups = try ProcessGroup.fromEnvironment(options: options)
        let b = GroupBox(group: groups.world, groups: groups, world: nil)
        out.pointee = Unmanaged.passRetained(b).toOpaque()
    }
}

@_cdecl("rm_group_sub")
public func rm_group_sub(_ world: UnsafeMutableRawPointer?, _ kind: Int32, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                         _ err: UnsafeMutablePointer<CChar>?, _ errlen: Int) -> Int32 {
    guard let w = box(world), let groups = w.groups, let out else {
        report("rm_group_sub: needs the world handle from rm_world_join and an out pointer", err, errlen)
        return ABICode.invalidArgument.rawValue
    }
    let group: ProcessGroup
    switch kind {
    case 0: group = groups.tensor
    case 1: group = groups.data
    case 2: group = groups.pipeline
    default:
        report("rm_group_sub: kind \(kind) is not 0 (tensor), 1 (data) or 2 (pipeline)", err, errlen)
        return ABICode.invalidArgument.rawValue
    }
    out.pointee = Unmanaged.passRetained(GroupBox(group: group, groups: nil, world: w)).toOpaque()
    report("", err, errlen)
    return ABICode.ok.rawValue
}

@_cdecl("rm_group_rank")
public func rm_group_rank(_ g: UnsafeMutableRawPointer?) -> Int32 { box(g).map { Int32($0.group.rank) } ?? -1 }

@_cdecl("rm_group_size")
public func rm_group_size(_ g: UnsafeMutableRawPointer?) -> Int32 { box(g).map { Int32($0.group.size) } ?? -1 }

/// The element type and reduction codes, checked.
func decode(dtype: Int32, op: Int32? = nil) throws(CollectiveError) -> (DataType, ReduceOp) {
    guard let t = UInt8(exactly: dtype).flatMap(DataType.init(rawValue:)) else {
        throw .invalidArgument("dtype \(dtype) is not one of 1 float32, 2 float64, 3 float16, 4 bfloat16, 5 int32, 6 int64")
    }
    guard let op else { return (t, .sum) }
    guard let o = UInt8(exactly: op).flatMap(ReduceOp.init(rawValue:)) else {
        throw .invalidArgument("op \(op) is not one of 1 sum, 2 avg, 3 min, 4 max")
    }
    return (t, o)
}

/// The group of a buffer operation, after checking the handle and that `count` elements can be at `buffer`.
func operands(_ function: String, _ g: UnsafeMutableRawPointer?, _ buffer: UnsafeMutableRawPointer?, _ count: Int64)
    throws(CollectiveError) -> ProcessGroup
{
    guard let b = box(g) else { throw .invalidArgument("\(function): the group handle is NULL") }
    guard count >= 0, count == 0 || buffer != nil else { throw .invalidArgument("\(function): \(count) elements at a NULL buffer") }
    return b.group
}

@_cdecl("rm_allreduce")
public func rm_allreduce(_ g: UnsafeMutableRawPointer?, _ buffer: UnsafeMutableRawPointer?, _ count: Int64, _ dtype: Int32,
                         _ op: Int32, _ timeoutMs: Int64, _ err: UnsafeMutablePointer<CChar>?, _ errlen: Int) -> Int32 {
    call(err, errlen) { () throws(CollectiveError) in
        let group = try operands("rm_allreduce", g, buffer, count)
        let (t, o) = try decode(dtype: dtype, op: op)
        try group.allReduce(buffer, count: Int(count), dataType: t, op: o, timeout: timeout(timeoutMs))
    }
}

@_cdecl("rm_broadcast")
public func rm_broadcast(_ g: UnsafeMutableRawPointer?, _ buffer: UnsafeMutableRawPointer?, _ count: Int64, _ dtype: Int32,
                         _ root: Int32, _ timeoutMs: Int64, _ err: UnsafeMutablePointer<CChar>?, _ errlen: Int) -> Int32 {
    call(err, errlen) { () throws(CollectiveError) in
        let group = try operands("rm_broadcast", g, buffer, count)
        let (t, _) = try decode(dtype: dtype)
        try group.broadcast(buffer, count: Int(count), dataType: t, root: Int(root), timeout: timeout(timeoutMs))
    }
}

@_cdecl("rm_barrier")
public func rm_barrier(_ g: UnsafeMutableRawPointer?, _ timeoutMs: Int64, _ err: UnsafeMutablePointer<CChar>?, _ errlen: Int) -> Int32 {
    call(err, errlen) { () throws(CollectiveError) in
        guard let b = box(g) else { throw .invalidArgument("rm_barrier: the group handle is NULL") }
        try b.group.barrier(timeout: timeout(timeoutMs))
    }
}

@_cdecl("rm_group_leave")
public func rm_group_leave(_ g: UnsafeMutableRawPointer?) {
    guard let g else { return }
    let b = Unmanaged<GroupBox>.fromOpaque(g)
    b.takeUnretainedValue().group.close()
    b.release()
}

/// Ends the operation running on the group (from any thread) and every later one: they fail with `closed`
/// (code 7). Aborting the world aborts its sub-groups and stops its listener. The handle must still be
/// left (`rm_group_leave`).
@_cdecl("rm_group_abort")
public func rm_group_abort(_ g: UnsafeMutableRawPointer?) {
    guard let b = box(g) else { return }
    if let groups = b.groups {
        for group in [groups.tensor, groups.data, groups.pipeline] { group.abort() }
        b.group.abort(stopConnector: true)
    } else {
        b.group.abort()
    }
}
