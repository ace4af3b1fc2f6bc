extension ProcessGroup {
    /// Copies `root`'s buffer to every rank: a pipelined chain root → root+1 → … → root−1,
    /// each rank forwarding chunk j as soon as it has arrived.
    public func broadcast<T: CollectiveElement>(_ buffer: inout [T], root: Int, timeout: Duration? = nil) throws(CollectiveError) {
        let count = buffer.count
        try withRaw(&buffer) { p throws(CollectiveError) in
            try broadcast(p, count: count, dataType: T.dataType, root: root, timeout: timeout)
        }
    }

    public func broadcast(_ buffer: UnsafeMutableRawPointer?, count: Int, dataType: DataType, root: Int,
                          timeout: Duration? = nil) throws(CollectiveError) {
        guard root >= 0 && root < size else { throw .invalidArgument("broadcast root \(root) outside 0..<\(size)") }
        try perform(timeout: timeout) { deadline throws(CollectiveError) in
            sequence += 1
            guard size > 1 else { return }
            let base = buffer ?? UnsafeMutableRawPointer(bitPattern: 0x10)!
            let position = (rank - root + size) % size
            let chunk = max(1, options.chunkBytes / dataType.size)
            let chunks = count == 0 ? 1 : (count + chunk - 1) / chunk
            var header = FrameHeader(kind: .broadcast, dataType: dataType, reduceOp: nil, sequence: sequence,
                                     count: UInt64(count), payloadBytes: 0, aux: UInt32(root))
            var ex = Exchange(.broadcast, sequence: sequence, group: name, dataType: dataType)
            let left = position > 0 ? ex.channel(try link((rank - 1 + size) % size, deadline: deadline)) : -1
            let right = position < size - 1 ? ex.channel(try link((rank + 1) % size, deadline: deadline)) : -1
            for j in 0..<chunks {
                let lo = min(j * chunk, count), hi = min(lo + chunk, count)
                let bytes = (hi - lo) * dataType.size
                header.payloadBytes = UInt32(bytes)
                if left >= 0 {
                    ex.queueRecv(left, RecvItem(expected: header, destination: base + lo * dataType.size, length: bytes))
                }
                if right >= 0 {
                    ex.queueSend(right, SendItem(header: header, payload: base + lo * dataType.size, length: bytes,
                                            afterChannel: left, afterOrdinal: j))
                }
            }
            try run(&ex, deadline: deadline)
        }
    }
}
