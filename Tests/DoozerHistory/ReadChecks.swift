/// The checks of what reads and the final state show: reads at a revision, the final state
/// after healing (no acknowledged write lost), and writes answered with an error never
/// observed as applied.
extension DoozerChecks {
    /// Every version a GET returns was written at its rev: by the acknowledged SET of that
    /// rev, or by a SET of unknown outcome of its body that can have had that rev; one body is
    /// only ever seen at one rev (a write takes effect once); and no GET returns a version newer
    /// than a SET invoked after the GET was answered. A GET at a revision (or a plain GET whose
    /// `storeRev` was recorded) returns exactly the path's version right after that revision (a
    /// revision below 1 reads as 1), as the acknowledged writes determine it.
    public static func readsAtRevisions(_ history: [ClientOp]) -> [Finding] {
        readsAtRevisions(history, WriteIndex(history))
    }

    static func readsAtRevisions(_ history: [ClientOp], _ index: WriteIndex) -> [Finding] {
        var findings: [Finding] = []
        var seenAt: [PathBody: (rev: Int64, op: Int)] = [:]
        for (i, op) in history.enumerated() {
            guard case .get(let at) = op.request, let (v, answered) = found(op) else { continue }
            if let later = index.firstSet(invokedAfter: answered), v.rev >= later.rev {
                findings.append(Finding(.readsAtRevisions, path: op.path,
                                        "\(op.path) read \(v), not yet written when the read was answered",
                                        [i, later.op], in: history))
            }
            if v.rev > 0 {
                let key = PathBody(path: op.path, body: v.body)
                if let first = seenAt[key], first.rev != v.rev {
                    findings.append(Finding(.readsAtRevisions, path: op.path,
                                            "\(op.path) read \(v.body) at rev \(v.rev), and elsewhere at rev \(first.rev)",
                                            [i, first.op], in: history))
                }
                if seenAt[key] == nil { seenAt[key] = (v.rev, i) }
            }
            if let finding = versionFinding(i, v, at: at.map { max($0, 1) } ?? op.storeRev, index, history) {
                findings.append(finding)
            }
        }
        return findings
    }

    /// What is wrong with GET `i` answering `v`: as the version at revision `r` when that is
    /// known, else as a version that was written.
    private static func versionFinding(_ i: Int, _ v: Version, at r: Int64?, _ index: WriteIndex,
                                       _ history: [ClientOp]) -> Finding? {
        let path = history[i].path
        guard let (why, ops) = r.map({ index.contradiction(v, path: path, at: $0, history) })
                ?? index.writerContradiction(v, path: path, history) else { return nil }
        let place = r.map { " at rev \($0)" } ?? ""
        return Finding(.readsAtRevisions, path: path, "\(path) read\(place): \(why)", [i] + ops, in: history)
    }

    /// Every node's final version of every path in the history is what the writes allow: the
    /// last acknowledged SET's, or a later one's of unknown outcome, or missing after a DEL
    /// that may have followed (so no acknowledged write is lost); and the nodes agree.
    public static func finalState(_ history: [ClientOp], _ views: [StoreView]) -> [Finding] {
        finalState(history, views, WriteIndex(history))
    }

    static func finalState(_ history: [ClientOp], _ views: [StoreView], _ index: WriteIndex) -> [Finding] {
        var findings: [Finding] = []
        for path in pathsInOrder(history) {
            let versions = views.map { $0.files[path] ?? Version(.empty, rev: 0) }
            for (view, v) in zip(views, versions) {
                guard let (why, ops) = index.contradiction(v, path: path, at: .max, history) else { continue }
                findings.append(Finding(.finalState, path: path, "\(view.name) ends with \(path) = \(v): \(why)",
                                        ops, in: history))
            }
            if Set(versions).count > 1 {
                let each = zip(views, versions).map { "\($0.name) \($1)" }.joined(separator: ", ")
                findings.append(Finding(.finalState, path: path, operations: [], lines: ["nodes disagree on \(path): \(each)"]))
            }
        }
        return findings
    }

    /// The body of a SET answered with REV_MISMATCH or another error is never read (nor left
    /// in a final view) at that path, unless another SET of the path wrote the same body.
    public static func failedWrites(_ history: [ClientOp], final views: [StoreView] = []) -> [Finding] {
        let failed = failedBodies(history)
        var findings: [Finding] = []
        for (i, op) in history.enumerated() {
            guard case .get = op.request, let (v, _) = found(op), v.rev > 0,
                  let write = failed[op.path]?[v.body] else { continue }
            findings.append(Finding(.failedWrites, path: op.path, "\(op.path) read the body of a write that failed",
                                    [i, write], in: history))
        }
        for view in views {
            for (path, v) in view.files.sorted(by: { $0.key < $1.key }) {
                guard let write = failed[path]?[v.body] else { continue }
                findings.append(Finding(.failedWrites, path: path, "\(view.name) ends with the body of a write that failed",
                                        [write], in: history))
            }
        }
        return findings
    }

    /// Per path, the bodies only ever written by SETs that failed, with one such SET each.
    private static func failedBodies(_ history: [ClientOp]) -> [String: [Body: Int]] {
        var failed: [String: [Body: Int]] = [:]
        var mayApply: Set<PathBody> = []
        for (i, op) in history.enumerated() {
            guard case .set(let body, _) = op.request else { continue }
            switch op.outcome {
            case .returned(.revMismatch, _), .returned(.failed, _): failed[op.path, default: [:]][body] = i
            default: mayApply.insert(PathBody(path: op.path, body: body))
            }
        }
        for pb in mayApply { failed[pb.path]?[pb.body] = nil }
        return failed
    }

    struct PathBody: Hashable {
        let path: String
        let body: Body
    }

    /// A GET's well-formed answer (see `wellFormed`) and when it came.
    static func found(_ op: ClientOp) -> (Version, Int64)? {
        guard case .returned(.found(let v), let at) = op.outcome, at >= op.invoked, v.rev > 0 || (v.rev == 0 && v.body == .empty)
        else { return nil }
        return (v, at)
    }

    /// The history's paths in order of first appearance.
    static func pathsInOrder(_ history: [ClientOp]) -> [String] {
        var seen: Set<String> = []
        return history.map(\.path).filter { seen.insert($0).inserted }
    }
}
