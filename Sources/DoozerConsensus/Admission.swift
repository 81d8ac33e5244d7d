/// De-duplication at one point of the decided sequence: which proposals of a decided batch are
/// admitted (take a revision) and which are refused. Every replica runs the same decided
/// batches through it in instance order, so every replica admits the same proposals.
///
/// - A proposal is admitted when its `seq` is above every `seq` of its origin admitted before
///   (`seqs`, the watermarks), so a proposal that reaches the log twice is applied once.
/// - A retirement marker (`Proposal.retirement(of:)`) of an origin with a watermark is admitted
///   and drops that watermark; the origin is then *retired* for α instances, and its proposals
///   are refused meanwhile. That bound is enough: a stale copy of a retired origin's proposal
///   can only be proposed by a leader that has not decided the marker yet, and a leader proposes
///   at most α instances past what it applied (which is at most what it decided), so it lands
///   at most α instances after the marker. A leader that decided the marker drops the origin's
///   queued proposals and refuses its forwards. So the table holds an entry per origin whose
///   node is in `/ctl/node` (and not yet retired), plus the origins retired in the last α
///   instances — not one per node that ever proposed.
struct Admission: Equatable {
    var seqs: [PeerID: UInt64]
    /// Origins retired, with the instance their marker was decided at.
    var retired: [PeerID: Int64]

    init(seqs: [PeerID: UInt64] = [:], retired: [PeerID: Int64] = [:]) {
        self.seqs = seqs
        self.retired = retired
    }

    /// Whether `p` would be admitted now.
    func admits(_ p: Proposal) -> Bool {
        if let origin = p.retiredOrigin { return seqs[origin] != nil }
        return p.origin != Proposal.retirementOrigin && retired[p.origin] == nil && p.seq > (seqs[p.origin] ?? 0)
    }

    /// Runs `batch`, decided at `instance`, through the table in order; returns the indices of
    /// the proposals refused. Retirements older than `alpha` instances end here.
    mutating func admit(_ batch: Batch, at instance: Int64, alpha: Int64) -> [Int] {
        var refused: [Int] = []
        for (i, p) in batch.enumerated() {
            guard admits(p) else {
                refused.append(i)
                continue
            }
            if let origin = p.retiredOrigin {
                seqs[origin] = nil
                retired[origin] = instance
            } else {
                seqs[p.origin] = p.seq
            }
        }
        if retired.values.contains(where: { $0 + alpha < instance }) { retired = retired.filter { $0.value + alpha >= instance } }
        return refused
    }
}
