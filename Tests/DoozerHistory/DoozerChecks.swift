/// The doozer checks of a `ClientOp` history, and the entry point that runs them all. Each check
/// is a function of the whole history returning what it found; this file holds the checks of
/// the history's shape (`wellFormed`) and of the revisions writes were acknowledged with
/// (`revisions`).
///
/// Usage, from a simulation or a real-process test:
///
///     var history: [ClientOp] = []
///     // on invoke:   history.append(ClientOp(session: s, path: "/k", .set("v17", cond: -1),
///     //                                      invoked: now, outcome: .unknown))
///     // on answer:   history[i].outcome = .returned(.written(rev: 42), at: now)
///     // connection lost: leave .unknown (a SET or DEL may still have been applied)
///     let report = DoozerChecks.check(history, final: views)
///     XCTAssert(report.isValid, report.description)
public enum DoozerChecks {
    /// How `check` runs.
    public struct Options: Sendable {
        /// Whether plain GETs must be linearizable (answered from the current committed state).
        /// Without it they are left out of the per-path search and checked only as reads at
        /// their `storeRev`, and for read-your-writes and monotonic reads.
        public var linearizableReads: Bool
        /// Search steps per path before its linearizability is undecided.
        public var budget: Int

        public init(linearizableReads: Bool = true, budget: Int = Linearizability.defaultBudget) {
            self.linearizableReads = linearizableReads
            self.budget = budget
        }
    }

    /// Every check over `history`; `final` are the nodes' files once the cluster has healed.
    public static func check(_ history: [ClientOp], final: [StoreView] = [], options: Options = Options()) -> HistoryReport {
        let index = WriteIndex(history)
        let (nonLinearizable, undecided) = linearizability(history, linearizableReads: options.linearizableReads,
                                                           budget: options.budget)
        var violations = wellFormed(history)
        violations += nonLinearizable
        violations += revisions(history)
        violations += readsAtRevisions(history, index)
        violations += finalState(history, final, index)
        violations += readYourWrites(history, index)
        violations += monotonicReads(history, index)
        violations += failedWrites(history, final: final)
        return HistoryReport(operations: history.count, violations: violations, undecided: undecided)
    }

    /// Each answer fits its request (GET: found or failed; SET: written, REV_MISMATCH or
    /// failed; DEL: deleted, REV_MISMATCH or failed), arrives no earlier than the request, and
    /// carries possible revisions (a GET's rev ≥ 0 and empty when 0; a SET's ≥ 1). The
    /// linearizability check skips operations that fail this; the others assume there are none.
    public static func wellFormed(_ history: [ClientOp]) -> [Finding] {
        history.indices.compactMap { i in
            malformation(history[i]).map { Finding(.wellFormed, path: history[i].path, $0, [i], in: history) }
        }
    }

    static func malformation(_ op: ClientOp) -> String? {
        guard case .returned(let reply, let at) = op.outcome else { return nil }
        if at < op.invoked { return "answered before it was invoked" }
        switch (op.request, reply) {
        case (.get, .found(let v)):
            if v.rev < 0 { return "a negative file rev" }
            if v.rev == 0 && v.body != .empty { return "a missing file (rev 0) with a body" }
            return nil
        case (.set, .written(let rev)):
            return rev >= 1 ? nil : "a write at revision \(rev)"
        case (.get, .failed), (.set, .failed), (.set, .revMismatch), (.del, .failed), (.del, .revMismatch),
             (.del, .deleted):
            return nil
        default:
            return "an answer that does not fit the request"
        }
    }

    /// Acknowledged SETs have distinct revisions, and a SET invoked after another was
    /// acknowledged got a higher revision (revisions follow real time).
    public static func revisions(_ history: [ClientOp]) -> [Finding] {
        var acked: [(op: Int, rev: Int64, invoked: Int64, answered: Int64)] = []
        for (i, op) in history.enumerated() {
            if case .set = op.request, case .returned(.written(let rev), let at) = op.outcome {
                acked.append((i, rev, op.invoked, at))
            }
        }
        return duplicateRevisions(acked.map { ($0.op, $0.rev) }, history)
            + reorderedRevisions(acked, history)
    }

    private static func duplicateRevisions(_ acked: [(op: Int, rev: Int64)], _ history: [ClientOp]) -> [Finding] {
        let byRev = Dictionary(grouping: acked, by: \.rev)
        return byRev.filter { $0.value.count > 1 }.sorted { $0.key < $1.key }.map { rev, writes in
            Finding(.revisions, path: nil, "\(writes.count) writes acknowledged at rev \(rev)", writes.map(\.op), in: history)
        }
    }

    private static func reorderedRevisions(_ acked: [(op: Int, rev: Int64, invoked: Int64, answered: Int64)],
                                           _ history: [ClientOp]) -> [Finding] {
        var findings: [Finding] = []
        precedingMax(acked, answered: \.answered, rank: \.rev, acked, invoked: \.invoked) { b, a in
            guard let a, a.rev >= b.rev else { return }
            findings.append(Finding(.revisions, path: nil,
                                    "rev \(b.rev) acknowledged for a write invoked after rev \(a.rev) was acknowledged",
                                    [b.op, a.op], in: history))
        }
        return findings
    }
}

/// Calls `visit` with each reader, in invocation order, and the source ranked highest among
/// those answered strictly before that reader was invoked (nil if none was).
func precedingMax<S, R>(_ sources: [S], answered: (S) -> Int64, rank: (S) -> Int64,
                        _ readers: [R], invoked: (R) -> Int64, _ visit: (R, S?) -> Void) {
    let byAnswer = sources.sorted { answered($0) < answered($1) }
    var next = 0
    var best: S?
    for reader in readers.sorted(by: { invoked($0) < invoked($1) }) {
        while next < byAnswer.count && answered(byAnswer[next]) < invoked(reader) {
            if best.map({ rank(byAnswer[next]) > rank($0) }) ?? true { best = byAnswer[next] }
            next += 1
        }
        visit(reader, best)
    }
}
