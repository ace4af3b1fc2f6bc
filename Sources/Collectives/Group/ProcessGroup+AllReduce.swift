extension ProcessGroup {
    /// Element-wise reduction of `buffer` across the group, in place: afterwards every rank
    /// holds the same result. Large buffers use the pipelined ring, small ones (≤
    /// `options.smallMessageBytes`) recursive doubling.
    public func allReduce<T: CollectiveElement>(_ buffer: inout [T], op: ReduceOp = .sum,
                                                timeout: Duration? = nil) throws(CollectiveError) {
        let count = buffer.count
        try withRaw(&buffer) { p throws(CollectiveError) in
            try allReduce(p, count: count, dataType: T.dataType, op: op, timeout: timeout)
        }
    }

    public func allReduce<T: CollectiveElement>(_ buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp = .sum,
                                                timeout: Duration? = nil) throws(CollectiveError) {
        try allReduce(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count, dataType: T.dataType,
                      op: op, timeout: timeout)
    }

    /// Raw form: `count` elements of `dataType` at `buffer`.
    public func allReduce(_ buffer: UnsafeMutableRawPointer?, count: Int, dataType: DataType, op: ReduceOp = .sum,
                          algorithm forced: AllReduceAlgorithm? = nil, timeout: Duration? = nil) throws(CollectiveError) {
        try perform(timeout: timeout) { deadline throws(CollectiveError) in
            sequence += 1
            if size == 1 { return }
            let bytes = count * dataType.size
            let algorithm = forced ?? AlgorithmChoice.choose(bytes: bytes, worldSize: size, threshold: options.smallMessageBytes)
            let header = FrameHeader(kind: .allReduce, dataType: dataType, reduceOp: op, algorithm: algorithm.rawValue,
                                     sequence: sequence, count: UInt64(count), payloadBytes: 0)
            let base = buffer ?? UnsafeMutableRawPointer(bitPattern: 0x10)!
            switch algorithm {
            case .ring:
                let s = RingSchedule(worldSize: size, rank: rank, count: count,
                                     chunkElements: max(1, options.chunkBytes / dataType.size))
                var ex = Exchange(.allReduce, sequence: sequence, group: name,
                                  reduceOp: op == .avg ? .sum : op, dataType: dataType)
                let right = ex.channel(try link(s.right, deadline: deadline))
                let left = ex.channel(try link(s.left, deadline: deadline))
                RingExchange.build(&ex, schedule: s, steps: 0..<s.totalSteps, buffer: base,
                                   elementSize: dataType.size, header: header, right: right, left: left,
                                   divideLastReduceBy: op == .avg ? size : 1)
                try run(&ex, deadline: deadline)
            case .recursiveDoubling:
                try recursiveDoubling(base, count: count, dataType: dataType, op: op, header: header, deadline: deadline)
            }
        }
    }

    /// See `RecursiveDoublingSchedule`. Each step is one short exchange; a received buffer is
    /// reduced only after the step's own send has completed.
    private func recursiveDoubling(_ buffer: UnsafeMutableRawPointer, count: Int, dataType: DataType, op: ReduceOp,
                                   header: FrameHeader, deadline: Deadline) throws(CollectiveError) {
        let bytes = count * dataType.size
        let tmp = scratch(bytes)
        let schedule = RecursiveDoublingSchedule(worldSize: size, rank: rank)
        let combine: ReduceOp = op == .avg ? .sum : op
        var divided = rank >= schedule.powerOfTwo || op != .avg
        var h = header
        h.payloadBytes = UInt32(bytes)
        try connectAll(schedule.steps.map { step in
            switch step {
            case .sendAll(let p), .receiveAndReduce(let p), .exchange(let p), .receiveResult(let p): p
            }
        }, deadline: deadline)
        do {
            for step in schedule.steps {
                var ex = Exchange(.allReduce, sequence: sequence, group: name, reduceOp: combine, dataType: dataType)
                var reduceAfter = false
                switch step {
                case .sendAll(let peer):
                    if !divided { Reduction.divide(dataType, buffer, count: count, by: size); divided = true }
                    ex.queueSend(ex.channel(try link(peer, deadline: deadline)), SendItem(header: h, payload: buffer, length: bytes))
                case .receiveAndReduce(let peer):
                    ex.queueRecv(ex.channel(try link(peer, deadline: deadline)), RecvItem(expected: h, destination: tmp, length: bytes))
                    reduceAfter = true
                case .exchange(let peer):
                    let c = ex.channel(try link(peer, deadline: deadline))
                    ex.queueSend(c, SendItem(header: h, payload: buffer, length: bytes))
                    ex.queueRecv(c, RecvItem(expected: h, destination: tmp, length: bytes))
                    reduceAfter = true
                case .receiveResult(let peer):
                    ex.queueRecv(ex.channel(try link(peer, deadline: deadline)), RecvItem(expected: h, destination: buffer, length: bytes))
                }
                try run(&ex, deadline: deadline)
                if reduceAfter { Reduction.apply(combine, dataType, into: buffer, from: tmp, count: count) }
            }
        }
        if !divided { Reduction.divide(dataType, buffer, count: count, by: size) }
    }
}

/// Typed-throws access to an array's bytes.
func withRaw<T, R>(_ array: inout [T], _ body: (UnsafeMutableRawPointer?) throws(CollectiveError) -> R) throws(CollectiveError) -> R {
    let result: Result<R, CollectiveError> = array.withUnsafeMutableBytes { raw in
        do throws(CollectiveError) { return .success(try body(raw.baseAddress)) } catch { return .failure(error) }
    }
    return try result.get()
}
