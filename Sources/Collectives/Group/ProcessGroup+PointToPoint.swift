extension ProcessGroup {
    /// Sends `buffer` to group rank `peer`, which must call `recv(_:from:)` with the same count
    /// and type (pipeline activations). Sends and receives between a pair match in call order.
    public func send<T: CollectiveElement>(_ buffer: [T], to peer: Int, timeout: Duration? = nil) throws(CollectiveError) {
        var copy = buffer
        let count = copy.count
        try withRaw(&copy) { p throws(CollectiveError) in
            try transfer(p, count: count, dataType: T.dataType, peer: peer, sending: true, timeout: timeout)
        }
    }

    /// Receives into `buffer` what group rank `peer` sent with `send(_:to:)`.
    public func recv<T: CollectiveElement>(_ buffer: inout [T], from peer: Int, timeout: Duration? = nil) throws(CollectiveError) {
        let count = buffer.count
        try withRaw(&buffer) { p throws(CollectiveError) in
            try transfer(p, count: count, dataType: T.dataType, peer: peer, sending: false, timeout: timeout)
        }
    }

    public func send(_ buffer: UnsafeRawPointer?, count: Int, dataType: DataType, to peer: Int, timeout: Duration? = nil) throws(CollectiveError) {
        try transfer(UnsafeMutableRawPointer(mutating: buffer), count: count, dataType: dataType, peer: peer, sending: true, timeout: timeout)
    }

    public func recv(_ buffer: UnsafeMutableRawPointer?, count: Int, dataType: DataType, from peer: Int, timeout: Duration? = nil) throws(CollectiveError) {
        try transfer(buffer, count: count, dataType: dataType, peer: peer, sending: false, timeout: timeout)
    }

    private func transfer(_ buffer: UnsafeMutableRawPointer?, count: Int, dataType: DataType, peer: Int,
                          sending: Bool, timeout: Duration?) throws(CollectiveError) {
        guard peer >= 0 && peer < size && peer != rank else {
            throw .invalidArgument("\(sending ? "send to" : "recv from") rank \(peer) in a group of \(size) (this is rank \(rank))")
        }
        try perform(timeout: timeout) { deadline throws(CollectiveError) in
            let sequence: UInt64
            if sending { p2pSent[peer] += 1; sequence = p2pSent[peer] } else { p2pReceived[peer] += 1; sequence = p2pReceived[peer] }
            let base = buffer ?? UnsafeMutableRawPointer(bitPattern: 0x10)!
            let chunk = max(1, options.chunkBytes / dataType.size)
            let chunks = count == 0 ? 1 : (count + chunk - 1) / chunk
            var header = FrameHeader(kind: .send, dataType: dataType, reduceOp: nil, sequence: sequence,
                                     count: UInt64(count), payloadBytes: 0)
            var ex = Exchange(.send, sequence: sequence, group: name, dataType: dataType)
            let c = ex.channel(try link(peer, deadline: deadline))
            for j in 0..<chunks {
                let lo = min(j * chunk, count), hi = min(lo + chunk, count)
                let bytes = (hi - lo) * dataType.size
                header.payloadBytes = UInt32(bytes)
                if sending {
                    ex.queueSend(c, SendItem(header: header, payload: base + lo * dataType.size, length: bytes))
                } else {
                    ex.queueRecv(c, RecvItem(expected: header, destination: base + lo * dataType.size, length: bytes))
                }
            }
            try run(&ex, deadline: deadline)
        }
    }
}
