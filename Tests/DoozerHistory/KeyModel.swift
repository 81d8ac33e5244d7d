/// Doozer's semantics for one path (a file, never a directory) as a `Model`, and the
/// linearizability check of a `ClientOp` history against it.
///
/// The store's revision is global and a failed conditional write consumes one too, so a path's
/// state cannot be "the revision"; it is the file (body, rev) or its absence, where the rev may
/// be known only as a range (after a write whose answer was lost, a read pins it), plus a lower
/// bound on the revision of the path's last write, which every later acknowledged write must
/// exceed. A DEL's answer carries no revision, so after it only that bound is known.
///
/// A write of unknown outcome that took effect leaves the bound where it was (its revision is
/// above it, which the bound still says), so that taking effect again changes nothing: the
/// search may apply it more than once (see `Search.Mode.repeatable`). A read then cannot tell
/// its revision from the previous write's; `DoozerChecks.readsAtRevisions` can.
struct KeyModel: Model {
    struct Input: Sendable {
        let path: String
        let action: Action
    }

    /// Bodies are numbered (`bodyID`); 0 is the empty body.
    enum Action: Sendable {
        case read
        case set(body: Int32, cond: Int64)
        case del(cond: Int64)
    }

    enum Output: Sendable {
        case read(body: Int32, rev: Int64)
        case written(rev: Int64)
        case deleted
        case mismatch
    }

    enum State: Hashable, Sendable {
        /// No file; the path's last write (a DEL, or none at all) had a revision ≥ `after`.
        case missing(after: Int64)
        /// A file whose rev (the revision of the path's last write) lies in `low...high`.
        case file(body: Int32, low: Int64, high: Int64)

        /// The lowest revision the path's last write may have had.
        var lastWrite: Int64 {
            switch self {
            case .missing(let after): return after
            case .file(_, let low, _): return low
            }
        }

        /// Whether a write with condition `cond` may succeed: -1 always, else iff cond ≥ the
        /// file's rev (0 when missing).
        func mayAllow(_ cond: Int64) -> Bool {
            switch self {
            case .missing: return cond >= -1
            case .file(_, let low, _): return cond == -1 || cond >= low
            }
        }

        /// The state after a REV_MISMATCH for `cond` (which teaches that the rev is above
        /// cond), nil when the condition cannot have failed.
        func refusing(_ cond: Int64) -> State? {
            switch self {
            case .missing: return cond < -1 ? self : nil
            case .file(let body, let low, let high):
                guard cond != -1 && cond < high else { return nil }
                return .file(body: body, low: max(low, cond + 1), high: high)
            }
        }
    }

    var initial: State { .missing(after: 0) }

    func partition(of input: Input) -> String { input.path }

    func step(_ s: State, _ input: Input, _ output: Output?) -> [State] {
        switch (input.action, output) {
        case (.read, .read(let body, let rev)?):
            return read(s, body: body, rev: rev).map { [$0] } ?? []
        case (.read, nil):
            return [s]
        case (.set(let body, let cond), .written(let rev)?):
            return s.mayAllow(cond) && rev > s.lastWrite ? [.file(body: body, low: rev, high: rev)] : []
        case (.set(let body, let cond), nil):
            return s.mayAllow(cond) ? [.file(body: body, low: s.lastWrite, high: .max)] : []
        case (.del(let cond), .deleted?):
            return s.mayAllow(cond) ? [.missing(after: s.lastWrite + 1)] : []
        case (.del(let cond), nil):
            return s.mayAllow(cond) ? [.missing(after: s.lastWrite)] : []
        case (.set(_, let cond), .mismatch?), (.del(let cond), .mismatch?):
            return s.refusing(cond).map { [$0] } ?? []
        default:
            preconditionFailure("an answer that does not fit its request: \(input.action) -> \(String(describing: output))")
        }
    }

    /// The state after a GET answered (body, rev), nil if it cannot have answered that.
    private func read(_ s: State, body: Int32, rev: Int64) -> State? {
        switch s {
        case .missing:
            return rev == 0 && body == 0 ? s : nil
        case .file(let b, let low, let high):
            return b == body && rev > 0 && low <= rev && rev <= high ? .file(body: b, low: rev, high: rev) : nil
        }
    }
}

extension DoozerChecks {
    /// Per-path linearizability of SETs, DELs (acknowledged, refused with REV_MISMATCH, or of
    /// unknown outcome) and, with `linearizableReads`, plain GETs. Snapshot reads, and
    /// operations that failed otherwise, are left to the other checks. Paths whose search spent
    /// `budget` steps are returned as undecided.
    public static func linearizability(_ history: [ClientOp], linearizableReads: Bool = true,
                                       budget: Int = Linearizability.defaultBudget)
        -> (violations: [Finding], undecided: [Finding]) {
        var bodies = BodyTable()
        var origin: [Int] = []
        var operations: [Op<KeyModel.Input, KeyModel.Output>] = []
        for (i, op) in history.enumerated() where malformation(op) == nil {
            guard let action = action(op, &bodies, reads: linearizableReads),
                  let outcome = outcome(op, &bodies) else { continue }
            origin.append(i)
            operations.append(Op(KeyModel.Input(path: op.path, action: action), invoked: op.invoked, outcome: outcome))
        }
        let result = Linearizability.check(operations, model: KeyModel(), budget: budget)
        var violations: [Finding] = [], undecided: [Finding] = []
        for failure in result.failures {
            let lines = failure.lines(operation: { describe(origin[$0], history) },
                                      state: { describeState($0, bodies) })
            let stuck = failure.stuck.map { [$0] } ?? []
            let involved = (stuck + failure.pending.filter { !stuck.contains($0) }).map { origin[$0] }
            let finding = Finding(.linearizability, path: failure.partition, operations: involved, lines: lines)
            if failure.verdict == .unknown { undecided.append(finding) } else { violations.append(finding) }
        }
        return (violations, undecided)
    }

    private static func action(_ op: ClientOp, _ bodies: inout BodyTable, reads: Bool) -> KeyModel.Action? {
        switch op.request {
        case .get(nil): return reads ? .read : nil
        case .get: return nil
        case .set(let body, let cond): return .set(body: bodies.id(body), cond: cond)
        case .del(let cond): return .del(cond: cond)
        }
    }

    /// The outcome of a well-formed operation as the model reads it; nil for a definite
    /// failure (no effect).
    private static func outcome(_ op: ClientOp, _ bodies: inout BodyTable) -> Outcome<KeyModel.Output>? {
        guard case .returned(let reply, let at) = op.outcome else {
            if case .get = op.request { return nil }   // an unanswered read teaches nothing
            return .unknown
        }
        switch reply {
        case .found(let v): return .returned(.read(body: bodies.id(v.body), rev: v.rev), at: at)
        case .written(let rev): return .returned(.written(rev: rev), at: at)
        case .deleted: return .returned(.deleted, at: at)
        case .revMismatch: return .returned(.mismatch, at: at)
        case .failed: return nil
        }
    }

    private static func describeState(_ s: KeyModel.State, _ bodies: BodyTable) -> String {
        switch s {
        case .missing(let after): return "missing (last write at rev ≥ \(after))"
        case .file(let body, let low, let high):
            let rev = low == high ? "\(low)" : high == .max ? "≥ \(low)" : "\(low)...\(high)"
            return "\(bodies.bodies[Int(body)]) at rev \(rev)"
        }
    }
}

/// Bodies numbered in order of appearance, the empty body first.
struct BodyTable {
    private(set) var bodies: [Body] = [.empty]
    private var ids: [Body: Int32] = [.empty: 0]

    mutating func id(_ body: Body) -> Int32 {
        if let id = ids[body] { return id }
        let id = Int32(bodies.count)
        bodies.append(body)
        ids[body] = id
        return id
    }
}
