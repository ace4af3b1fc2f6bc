/// One rank of one attempt of one job: the key every rank message carries.
public struct RankRef: Hashable, Codable, Sendable, CustomStringConvertible {
    public var job: JobID
    public var attempt: Int
    public var rank: Int

    public init(job: JobID, attempt: Int, rank: Int) {
        self.job = job
        self.attempt = attempt
        self.rank = rank
    }

    public var description: String { "\(job.rawValue)#\(attempt)/rank \(rank)" }
}
