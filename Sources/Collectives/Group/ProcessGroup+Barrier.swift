extension ProcessGroup {
    /// Returns once every rank of the group has entered the barrier (dissemination, ⌈log2 N⌉
    /// rounds of empty frames).
    public func barrier(timeout: Duration? = nil) throws(CollectiveError) {
        try perform(timeout: timeout) { deadline throws(CollectiveError) in
            sequence += 1
            let rounds = DisseminationSchedule(worldSize: size, rank: rank).rounds
            try connectAll(rounds.flatMap { [$0.to, $0.from] }, deadline: deadline)
            for (round, peers) in rounds.enumerated() {
                let header = FrameHeader(kind: .barrier, dataType: nil, reduceOp: nil, sequence: sequence,
                                         count: 0, payloadBytes: 0, aux: UInt32(round))
                var ex = Exchange(.barrier, sequence: sequence, group: name)
                ex.queueSend(ex.channel(try link(peers.to, deadline: deadline)), SendItem(header: header, payload: nil, length: 0))
                ex.queueRecv(ex.channel(try link(peers.from, deadline: deadline)), RecvItem(expected: header, destination: nil, length: 0))
                try run(&ex, deadline: deadline)
            }
        }
    }
}
