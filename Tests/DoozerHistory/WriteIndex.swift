/// What the checks beyond linearizability know about a history's writes: the acknowledged SETs
/// by revision, bounds on the revision of any write from real time, and per path the revisions
/// written, the DELs (whose revisions are only bounded), and which bodies were written how.
/// From these it decides whether a version can be a path's version at a revision.
///
/// The bounds assume what `DoozerChecks.revisions` checks: a write invoked after an
/// acknowledged SET was answered gets a higher revision.
struct WriteIndex {
    /// Acknowledged SETs by revision (the first, when a revision repeats).
    let setAt: [Int64: Int]
    private(set) var paths: [String: PathWrites] = [:]
    /// Acknowledged SETs by answer time, each with the highest revision answered so far.
    private let answered: [(at: Int64, maxRev: Int64)]
    /// Acknowledged SETs by invocation time, each with the lowest revision (and its SET) among
    /// those invoked from then on.
    private let invoked: [(at: Int64, minRev: Int64, op: Int)]

    init(_ history: [ClientOp]) {
        var setAt: [Int64: Int] = [:]
        var acked: [(invoked: Int64, answered: Int64, rev: Int64, op: Int)] = []
        for (i, op) in history.enumerated() {
            guard case .set = op.request, case .returned(.written(let rev), let at) = op.outcome else { continue }
            if setAt[rev] == nil { setAt[rev] = i }
            acked.append((op.invoked, at, rev, i))
        }
        self.setAt = setAt
        var maxRev = Int64.min
        answered = acked.sorted { $0.answered < $1.answered }.map {
            maxRev = max(maxRev, $0.rev)
            return ($0.answered, maxRev)
        }
        var lowest: (rev: Int64, op: Int) = (.max, -1)
        invoked = Array(acked.sorted { $0.invoked > $1.invoked }.map {
            if $0.rev < lowest.rev { lowest = ($0.rev, $0.op) }
            return ($0.invoked, lowest.rev, lowest.op)
        }.reversed())
        paths = PathWrites.build(history, self)
    }

    /// The lowest revision a write invoked at `t` can have: above every acknowledged SET
    /// answered before `t`.
    func lowest(invokedAt t: Int64) -> Int64 {
        let n = answered.partitionPoint { $0.at < t }
        return n == 0 ? 1 : answered[n - 1].maxRev + 1
    }

    /// The lowest-revision acknowledged SET invoked after `t`: every write answered (or state
    /// read) at `t` comes before it.
    func firstSet(invokedAfter t: Int64) -> (rev: Int64, op: Int)? {
        let n = invoked.partitionPoint { $0.at <= t }
        return n == invoked.count ? nil : (invoked[n].minRev, invoked[n].op)
    }

    /// The highest revision a write answered at `t` can have.
    func highest(answeredAt t: Int64) -> Int64 {
        firstSet(invokedAfter: t).map { $0.rev - 1 } ?? .max
    }

    /// Why `version` cannot be `path`'s version right after revision `r` (`.max`: at the end of
    /// the history), with the operations that show it; nil if it can be.
    func contradiction(_ version: Version, path: String, at r: Int64, _ history: [ClientOp]) -> (String, [Int])? {
        let w = paths[path] ?? PathWrites()
        if version.rev > r { return ("its rev \(version.rev) is newer than the revision read", []) }
        if version.rev == 0 { return missingContradiction(version, w, at: r, history) }
        if let why = writerContradiction(version, path: path, w, history) { return why }
        if let s = w.acked.first(after: version.rev), s.rev <= r {
            return ("\(version) was overwritten at rev \(s.rev)", [s.op])
        }
        if let d = w.ackedDeletes.certainlyBetween(after: version.rev, atOrBefore: r) {
            return ("\(version) was deleted after it was written", [d])
        }
        return nil
    }

    /// Missing (rev 0): the body must be empty, and the last acknowledged SET by `r` must have
    /// been followed by a DEL that may have happened by `r`.
    private func missingContradiction(_ version: Version, _ w: PathWrites, at r: Int64,
                                      _ history: [ClientOp]) -> (String, [Int])? {
        if version.body != .empty { return ("rev 0 (missing) with a non-empty body", []) }
        guard let s = w.acked.last(atOrBefore: r),
              !w.possibleDeletes.maybeBetween(after: s.rev, atOrBefore: r) else { return nil }
        return ("missing, but written at rev \(s.rev) and no DEL can have followed", [s.op])
    }

    /// Why no SET of `path` can have written `version` (rev > 0), nil if one can: the
    /// acknowledged SET of that revision, or one of unknown outcome invoked early enough.
    func writerContradiction(_ version: Version, path: String, _ history: [ClientOp]) -> (String, [Int])? {
        version.rev == 0 ? nil : writerContradiction(version, path: path, paths[path] ?? PathWrites(), history)
    }

    private func writerContradiction(_ version: Version, path: String, _ w: PathWrites,
                                     _ history: [ClientOp]) -> (String, [Int])? {
        if let op = setAt[version.rev] {
            if history[op].path != path { return ("rev \(version.rev) is a write of \(history[op].path)", [op]) }
            guard case .set(let body, _) = history[op].request, body == version.body else {
                return ("rev \(version.rev) wrote another body", [op])
            }
            return nil
        }
        if let low = w.unknownSets[version.body], low <= version.rev { return nil }
        return ("no write of \(version.body) can have had rev \(version.rev)", w.writers[version.body] ?? [])
    }
}

/// One path's writes.
struct PathWrites {
    /// Acknowledged SETs by revision.
    var acked = RevisionList()
    /// Acknowledged DELs, and all those that may have happened (acknowledged or unknown), as
    /// ranges of possible revisions.
    var ackedDeletes = DeleteRanges()
    var possibleDeletes = DeleteRanges()
    /// Bodies of SETs of unknown outcome, with the lowest revision each may have had.
    var unknownSets: [Body: Int64] = [:]
    /// Every SET by body.
    var writers: [Body: [Int]] = [:]

    static func build(_ history: [ClientOp], _ index: WriteIndex) -> [String: PathWrites] {
        var paths: [String: PathWrites] = [:]
        for (i, op) in history.enumerated() {
            paths[op.path, default: PathWrites()].add(i, op, index)
        }
        return paths.mapValues { $0.sorted() }
    }

    private mutating func add(_ i: Int, _ op: ClientOp, _ index: WriteIndex) {
        if case .set(let body, _) = op.request { writers[body, default: []].append(i) }
        switch (op.request, op.outcome) {
        case (.set, .returned(.written(let rev), _)):
            acked.append(rev, op: i)
        case (.set(let body, _), .unknown):
            unknownSets[body] = min(index.lowest(invokedAt: op.invoked), unknownSets[body] ?? .max)
        case (.del, .returned(.deleted, let at)):
            let range = (low: index.lowest(invokedAt: op.invoked), high: index.highest(answeredAt: at), op: i)
            ackedDeletes.append(range)
            possibleDeletes.append(range)
        case (.del, .unknown):
            possibleDeletes.append((index.lowest(invokedAt: op.invoked), .max, i))
        default:
            break
        }
    }

    private func sorted() -> PathWrites {
        var w = self
        w.acked.sort()
        w.ackedDeletes.sort()
        w.possibleDeletes.sort()
        return w
    }
}

/// Writes with known revisions, sorted once filled.
struct RevisionList {
    private var writes: [(rev: Int64, op: Int)] = []

    mutating func append(_ rev: Int64, op: Int) { writes.append((rev, op)) }
    mutating func sort() { writes.sort { ($0.rev, $0.op) < ($1.rev, $1.op) } }

    /// The first write with a revision above `rev`.
    func first(after rev: Int64) -> (rev: Int64, op: Int)? {
        let n = writes.partitionPoint { $0.rev <= rev }
        return n < writes.count ? writes[n] : nil
    }

    /// The last write with a revision at or below `rev`.
    func last(atOrBefore rev: Int64) -> (rev: Int64, op: Int)? {
        let n = writes.partitionPoint { $0.rev <= rev }
        return n > 0 ? writes[n - 1] : nil
    }
}

/// DELs as ranges of the revisions each may have had, sorted by their low ends once filled,
/// with running extremes of the high ends for logarithmic queries.
struct DeleteRanges {
    private var ranges: [(low: Int64, high: Int64, op: Int)] = []
    /// Highest `high` among ranges[0...i], and the lowest among ranges[i...] with its op.
    private var prefixMaxHigh: [Int64] = []
    private var suffixMinHigh: [(high: Int64, op: Int)] = []

    mutating func append(_ range: (low: Int64, high: Int64, op: Int)) { ranges.append(range) }

    mutating func sort() {
        ranges.sort { ($0.low, $0.op) < ($1.low, $1.op) }
        var highest = Int64.min
        prefixMaxHigh = ranges.map { highest = max(highest, $0.high); return highest }
        var lowest: (high: Int64, op: Int) = (.max, -1)
        suffixMinHigh = Array(ranges.reversed().map {
            if $0.high <= lowest.high { lowest = ($0.high, $0.op) }
            return lowest
        }.reversed())
    }

    /// Whether some DEL may have a revision in `rev+1...r`.
    func maybeBetween(after rev: Int64, atOrBefore r: Int64) -> Bool {
        let n = ranges.partitionPoint { $0.low <= r }
        return n > 0 && prefixMaxHigh[n - 1] > rev
    }

    /// A DEL whose every possible revision lies in `rev+1...r`.
    func certainlyBetween(after rev: Int64, atOrBefore r: Int64) -> Int? {
        let n = ranges.partitionPoint { $0.low <= rev }
        guard n < ranges.count, suffixMinHigh[n].high <= r else { return nil }
        return suffixMinHigh[n].op
    }
}

extension RandomAccessCollection where Index == Int {
    /// The first index whose element fails `belongs` (the collection being partitioned: those
    /// that satisfy it first).
    func partitionPoint(_ belongs: (Element) -> Bool) -> Int {
        var low = startIndex, high = endIndex
        while low < high {
            let mid = (low + high) / 2
            if belongs(self[mid]) { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
