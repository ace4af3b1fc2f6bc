/// Queues the frames of ring steps `steps` (see `RingSchedule`) on an exchange: chunk j of
/// step t is sent to the right once chunk j of step t − 1 has arrived from the left (it is
/// the same data, reduced or copied), so chunks flow around the ring in a pipeline.
enum RingExchange {
    static func build(_ ex: inout Exchange, schedule s: RingSchedule, steps: Range<Int>,
                      buffer: UnsafeMutableRawPointer, elementSize: Int, header: FrameHeader,
                      right: Int, left: Int, divideLastReduceBy divisor: Int = 1) {
        var firstOrdinal: [Int] = []  // ordinal of the first receive of each step on `left`
        var ordinal = 0
        for t in steps {
            firstOrdinal.append(ordinal)
            ordinal += s.chunkCount(ofSegment: s.recvSegment(step: t))
        }
        for (i, t) in steps.enumerated() {
            let sendSeg = s.sendSegment(step: t)
            for j in 0..<s.chunkCount(ofSegment: sendSeg) {
                let r = s.chunk(j, ofSegment: sendSeg)
                var h = header
                h.payloadBytes = UInt32(r.count * elementSize)
                ex.queueSend(right, SendItem(header: h, payload: buffer + r.lowerBound * elementSize,
                                        length: r.count * elementSize,
                                        afterChannel: i == 0 ? -1 : left,
                                        afterOrdinal: i == 0 ? 0 : firstOrdinal[i - 1] + j))
            }
            let recvSeg = s.recvSegment(step: t)
            let lastReduce = t == s.reduceScatterSteps - 1
            for j in 0..<s.chunkCount(ofSegment: recvSeg) {
                let r = s.chunk(j, ofSegment: recvSeg)
                var h = header
                h.payloadBytes = UInt32(r.count * elementSize)
                ex.queueRecv(left, RecvItem(expected: h, destination: buffer + r.lowerBound * elementSize,
                                       length: r.count * elementSize, reduce: s.reduces(step: t),
                                       divideBy: lastReduce ? divisor : 1))
            }
        }
    }
}
