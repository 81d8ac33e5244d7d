/// The per-connection checks: read-your-writes and monotonic reads. Both compare a plain GET
/// with what the same session saw or did before it was invoked (answered strictly earlier),
/// which holds even when reads are answered by a node that lags the others.
extension DoozerChecks {
    /// After a session's SET of a path is acknowledged at rev R, its later GETs of the path
    /// return a rev ≥ R, or missing if a DEL may have followed; after its DEL is acknowledged,
    /// they return no version written before that DEL.
    public static func readYourWrites(_ history: [ClientOp]) -> [Finding] {
        readYourWrites(history, WriteIndex(history))
    }

    static func readYourWrites(_ history: [ClientOp], _ index: WriteIndex) -> [Finding] {
        var findings: [Finding] = []
        for (key, ops) in sessionPaths(history) {
            let deletes = index.paths[key.path]?.possibleDeletes ?? DeleteRanges()
            let reads = plainReads(ops, history)
            var sets: [(op: Int, rev: Int64, answered: Int64)] = []
            var dels: [(op: Int, low: Int64, answered: Int64)] = []
            for i in ops {
                switch (history[i].request, history[i].outcome) {
                case (.set, .returned(.written(let rev), let at)): sets.append((i, rev, at))
                case (.del, .returned(.deleted, let at)): dels.append((i, index.lowest(invokedAt: history[i].invoked), at))
                default: break
                }
            }
            precedingMax(sets, answered: \.answered, rank: \.rev, reads, invoked: \.invoked) { read, set in
                guard let set else { return }
                let f = read.version.rev
                if f > 0 && f < set.rev {
                    findings.append(Finding(.readYourWrites, path: key.path,
                                            "\(key.path) read rev \(f) after its session's write at rev \(set.rev)",
                                            [read.op, set.op], in: history))
                } else if f == 0 && !deletes.maybeBetween(after: set.rev, atOrBefore: .max) {
                    findings.append(Finding(.readYourWrites, path: key.path,
                                            "\(key.path) read missing after its session's write at rev \(set.rev), and no DEL can have followed",
                                            [read.op, set.op], in: history))
                }
            }
            precedingMax(dels, answered: \.answered, rank: \.low, reads, invoked: \.invoked) { read, del in
                guard let del, read.version.rev > 0 && read.version.rev < del.low else { return }
                findings.append(Finding(.readYourWrites, path: key.path,
                                        "\(key.path) read rev \(read.version.rev) after its session's DEL (at rev ≥ \(del.low))",
                                        [read.op, del.op], in: history))
            }
        }
        return findings
    }

    /// On one session, GETs of a path never return an older rev than an earlier GET did (nor
    /// missing unless a DEL may have followed), and the recorded store revisions of its
    /// operations never go backwards.
    public static func monotonicReads(_ history: [ClientOp]) -> [Finding] {
        monotonicReads(history, WriteIndex(history))
    }

    static func monotonicReads(_ history: [ClientOp], _ index: WriteIndex) -> [Finding] {
        var findings: [Finding] = []
        for (key, ops) in sessionPaths(history) {
            let deletes = index.paths[key.path]?.possibleDeletes ?? DeleteRanges()
            let reads = plainReads(ops, history)
            precedingMax(reads, answered: \.answered, rank: \.version.rev, reads, invoked: \.invoked) { b, a in
                guard let a, a.version.rev > 0 else { return }
                let (f, seen) = (b.version.rev, a.version.rev)
                if f > 0 && f < seen {
                    findings.append(Finding(.monotonicReads, path: key.path, "\(key.path) went back from rev \(seen) to \(f)",
                                            [b.op, a.op], in: history))
                } else if f == 0 && !deletes.maybeBetween(after: seen, atOrBefore: .max) {
                    findings.append(Finding(.monotonicReads, path: key.path,
                                            "\(key.path) went from rev \(seen) to missing, and no DEL can have followed",
                                            [b.op, a.op], in: history))
                }
            }
        }
        return findings + storeRevisions(history)
    }

    private static func storeRevisions(_ history: [ClientOp]) -> [Finding] {
        var bySession: [Int: [(op: Int, rev: Int64, invoked: Int64, answered: Int64)]] = [:]
        for (i, op) in history.enumerated() {
            guard let rev = op.storeRev, let at = op.outcome.completed, at >= op.invoked else { continue }
            bySession[op.session, default: []].append((i, rev, op.invoked, at))
        }
        var findings: [Finding] = []
        for (_, ops) in bySession.sorted(by: { $0.key < $1.key }) {
            precedingMax(ops, answered: \.answered, rank: \.rev, ops, invoked: \.invoked) { b, a in
                guard let a, b.rev < a.rev else { return }
                findings.append(Finding(.monotonicReads, path: nil, "store rev went back from \(a.rev) to \(b.rev)",
                                        [b.op, a.op], in: history))
            }
        }
        return findings
    }

    private struct SessionPath: Hashable {
        let session: Int
        let path: String
    }

    /// Each (session, path) with its operations, in order of first appearance.
    private static func sessionPaths(_ history: [ClientOp]) -> [(SessionPath, [Int])] {
        groups(history.count) { SessionPath(session: history[$0].session, path: history[$0].path) }
    }

    private struct Read {
        let op: Int
        let version: Version
        let invoked: Int64
        let answered: Int64
    }

    /// The answered plain GETs (not at a revision) among `ops`.
    private static func plainReads(_ ops: [Int], _ history: [ClientOp]) -> [Read] {
        ops.compactMap { i in
            guard case .get(nil) = history[i].request, let (v, at) = found(history[i]) else { return nil }
            return Read(op: i, version: v, invoked: history[i].invoked, answered: at)
        }
    }
}
