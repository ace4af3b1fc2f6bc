extension ProcessGroup {
    /// The slice of a `count`-element buffer that group rank `r` owns in `reduceScatter` and
    /// contributes in `allGather` (balanced: lengths differ by at most one).
    public func segment(of r: Int, count: Int) -> Range<Int> {
        RingSchedule.segment(r, of: count, parts: size)
    }

    /// Reduces `buffer` across the group so that this rank's segment
    /// (`segment(of: rank, count:)`, the returned range) holds the reduced values; the rest of
    /// the buffer is scratch afterwards. Ring reduce-scatter (the first half of the all-reduce).
    @discardableResult
    public func reduceScatter<T: CollectiveElement>(_ buffer: inout [T], op: ReduceOp = .sum,
                                                    timeout: Duration? = nil) throws(CollectiveError) -> Range<Int> {
        let count = buffer.count
        return try withRaw(&buffer) { p throws(CollectiveError) in
            try reduceScatter(p, count: count, dataType: T.dataType, op: op, timeout: timeout)
        }
    }

    @discardableResult
    public func reduceScatter(_ buffer: UnsafeMutableRawPointer?, count: Int, dataType: DataType, op: ReduceOp = .sum,
                              timeout: Duration? = nil) throws(CollectiveError) -> Range<Int> {
        try ringPhase(.reduceScatter, buffer, count: count, dataType: dataType, op: op, timeout: timeout)
        return segment(of: rank, count: count)
    }

    /// Every rank contributes its segment (`segment(of: rank, count:)`) of `buffer`;
    /// afterwards every rank holds all segments. Ring all-gather (the second half of the all-reduce).
    public func allGather<T: CollectiveElement>(_ buffer: inout [T], timeout: Duration? = nil) throws(CollectiveError) {
        let count = buffer.count
        try withRaw(&buffer) { p throws(CollectiveError) in
            try allGather(p, count: count, dataType: T.dataType, timeout: timeout)
        }
    }

    public func allGather(_ buffer: UnsafeMutableRawPointer?, count: Int, dataType: DataType,
                          timeout: Duration? = nil) throws(CollectiveError) {
        try ringPhase(.allGather, buffer, count: count, dataType: dataType, op: nil, timeout: timeout)
    }

    /// Concatenates equal-length contributions from every rank, in rank order.
    public func allGather<T: CollectiveElement>(_ contribution: [T], timeout: Duration? = nil) throws(CollectiveError) -> [T] {
        let m = contribution.count
        guard let filler = contribution.first else {
            try allGather(nil, count: 0, dataType: T.dataType, timeout: timeout)
            return []
        }
        var all = [T](repeating: filler, count: m * size)
        for i in 0..<m { all[rank * m + i] = contribution[i] }
        try allGather(&all, timeout: timeout)
        return all
    }

    private func ringPhase(_ kind: OpKind, _ buffer: UnsafeMutableRawPointer?, count: Int, dataType: DataType,
                           op: ReduceOp?, timeout: Duration?) throws(CollectiveError) {
        try perform(timeout: timeout) { deadline throws(CollectiveError) in
            sequence += 1
            guard size > 1 else { return }
            let s = RingSchedule(worldSize: size, rank: rank, count: count,
                                 chunkElements: max(1, options.chunkBytes / dataType.size))
            let header = FrameHeader(kind: kind, dataType: dataType, reduceOp: op, algorithm: AllReduceAlgorithm.ring.rawValue,
                                     sequence: sequence, count: UInt64(count), payloadBytes: 0)
            var ex = Exchange(kind, sequence: sequence, group: name,
                              reduceOp: op == .avg ? .sum : (op ?? .sum), dataType: dataType)
            let right = ex.channel(try link(s.right, deadline: deadline))
            let left = ex.channel(try link(s.left, deadline: deadline))
            let steps = kind == .reduceScatter ? 0..<s.reduceScatterSteps : s.reduceScatterSteps..<s.totalSteps
            RingExchange.build(&ex, schedule: s, steps: steps, buffer: buffer ?? UnsafeMutableRawPointer(bitPattern: 0x10)!,
                               elementSize: dataType.size, header: header, right: right, left: left,
                               divideLastReduceBy: op == .avg ? size : 1)
            try run(&ex, deadline: deadline)
        }
    }
}
