/// The generic linearizability check: splits a history into the model's partitions, searches
/// each for a linearization within a step budget, and describes the partitions where none was
/// found (or the budget ran out) in lines a person can act on.
public enum Linearizability {
    /// Steps each of a partition's searches may take before its verdict is `.unknown`: a
    /// linearizable partition of a few thousand operations with a handful of concurrent
    /// clients needs a few steps per operation.
    public static let defaultBudget = 1_000_000

    /// Checks `history` against `model`, every partition on its own.
    public static func check<M: Model>(_ history: [Op<M.Input, M.Output>], model: M,
                                       budget: Int = defaultBudget) -> LinearizabilityResult<M> {
        precondition(budget > 0, "a search needs at least one step")
        var failures: [PartitionFailure<M>] = []
        var steps = 0
        let parts = partitions(history, model)
        for (partition, members) in parts {
            let (verdict, spent, deepest) = search(members.map { history[$0] }, model, budget)
            steps += spent
            if verdict != .linearizable {
                failures.append(PartitionFailure(partition: partition, verdict: verdict, operations: members,
                                                 steps: spent, deepest: deepest))
            }
        }
        return LinearizabilityResult(partitions: parts.count, steps: steps, failures: failures)
    }

    /// The exact search; if a short probe of it does not decide a partition with operations of
    /// unknown outcome, first the search that lets those take effect any number of times (its
    /// "no" is a no, and it is cheap where the exact one is exponential), then the rest of the
    /// exact one.
    private static func search<M: Model>(_ operations: [Op<M.Input, M.Output>], _ model: M, _ budget: Int)
        -> (Verdict, steps: Int, Search<M>.Deepest?) {
        var exact = Search(model: model, operations: operations, mode: .exact)
        var verdict = exact.run(budget: min(budget, probe(operations.count)))
        var steps = 0
        if verdict == .unknown && exact.hasUnknown {
            var repeatable = Search(model: model, operations: operations, mode: .repeatable)
            let refuted = repeatable.run(budget: budget) == .notLinearizable
            if refuted { return (.notLinearizable, exact.steps + repeatable.steps, repeatable.deepest) }
            steps = repeatable.steps
        }
        if verdict == .unknown { verdict = exact.run(budget: budget) }
        return (verdict, steps + exact.steps, exact.deepest)
    }

    /// Steps of the exact search before trying the other: a linearizable partition seldom
    /// needs more than a few per operation.
    private static func probe(_ operations: Int) -> Int { 16 * operations + 4096 }

    /// Each partition with the indices of its operations in invocation order (ties in history
    /// order), partitions in the order of their first operation.
    private static func partitions<M: Model>(_ history: [Op<M.Input, M.Output>], _ model: M)
        -> [(M.Partition, [Int])] {
        groups(history.count) { model.partition(of: history[$0].input) }.map { p, members in
            (p, members.sorted { (history[$0].invoked, $0) < (history[$1].invoked, $1) })
        }
    }
}

/// The indices 0..<count grouped by `key`, in index order within each group, groups in the
/// order of their first index.
func groups<K: Hashable>(_ count: Int, by key: (Int) -> K) -> [(K, [Int])] {
    var index: [K: Int] = [:]
    var groups: [(K, [Int])] = []
    for i in 0..<count {
        let k = key(i)
        if let g = index[k] {
            groups[g].1.append(i)
        } else {
            index[k] = groups.count
            groups.append((k, [i]))
        }
    }
    return groups
}

/// A check's verdict: `.unknown` when the search ran out of budget first.
public enum Verdict: Sendable, Equatable {
    case linearizable, notLinearizable, unknown
}

/// The verdict on a whole history and the partitions that were not shown linearizable.
public struct LinearizabilityResult<M: Model>: Sendable {
    /// Partitions checked.
    public let partitions: Int
    /// Search steps over all partitions.
    public let steps: Int
    /// Partitions with no linearization or an exhausted budget, in the order of their first
    /// operation.
    public let failures: [PartitionFailure<M>]

    /// Not linearizable if any partition is not; else unknown if any ran out of budget.
    public var verdict: Verdict {
        if failures.contains(where: { $0.verdict == .notLinearizable }) { return .notLinearizable }
        return failures.isEmpty ? .linearizable : .unknown
    }
}

/// One partition that was not shown linearizable, and where its search got furthest: the
/// longest partial linearization found, the operation whose answer could not be explained
/// after it, and the operations pending there. Operations are indices into the history.
public struct PartitionFailure<M: Model>: Sendable {
    public let partition: M.Partition
    /// `.notLinearizable` or `.unknown`.
    public let verdict: Verdict
    /// The partition's operations, in invocation order.
    public let operations: [Int]
    public let steps: Int
    /// Length of the longest partial linearization found (a linearizable prefix).
    public let linearized: Int
    /// Its last few operations, in linearization order.
    public let lastLinearized: [Int]
    /// The operation answered next in real time that no order could linearize; nil when the
    /// budget ran out before the search ever backtracked.
    public let stuck: Int?
    /// Answered operations invoked but not linearized at that point, in invocation order.
    public let pending: [Int]
    /// Operations of unknown outcome invoked but not linearized at that point.
    public let pendingUnknown: [Int]
    /// The model states the partial linearization may have left.
    public let states: [M.State]

    init(partition: M.Partition, verdict: Verdict, operations: [Int], steps: Int,
         deepest: Search<M>.Deepest?) {
        assert(verdict != .linearizable)
        self.partition = partition
        self.verdict = verdict
        self.operations = operations
        self.steps = steps
        linearized = deepest?.depth ?? 0
        lastLinearized = deepest?.tail.map { operations[Int($0)] } ?? []
        stuck = deepest.map { operations[Int($0.stuck)] }
        pending = deepest?.pending.map { operations[Int($0)] } ?? []
        pendingUnknown = deepest?.pendingUnknown.map { operations[Int($0)] } ?? []
        states = deepest.map { Array($0.states) } ?? []
    }

    /// Lines listing at most this many states or operations of unknown outcome.
    public static var shown: Int { 6 }

    /// The failure as readable lines: a header, then the end of the longest linearization, the
    /// states it left, the operation that could not follow and the candidates that were tried.
    public func lines(operation: (Int) -> String, state: (M.State) -> String) -> [String] {
        let what = verdict == .unknown ? "undecided (budget spent)" : "not linearizable"
        var out = ["\(partition): \(what); \(operations.count) operations, \(steps) steps"]
        guard let stuck else { return out }
        out.append("  longest linearization found: \(linearized) operations, ending with")
        out += lastLinearized.map { "    " + operation($0) }
        let described = states.map(state).sorted()
        out.append("  leaving " + described.prefix(Self.shown).joined(separator: " or ") + more(described.count))
        out.append("  then no pending operation leads to the answer of")
        out.append("    " + operation(stuck))
        out.append("  pending (tried):")
        out += pending.map { "    " + operation($0) }
        out += pendingUnknown.prefix(Self.shown).map { "    " + operation($0) }
        if pendingUnknown.count > Self.shown {
            out.append("    and \(pendingUnknown.count - Self.shown) more of unknown outcome")
        }
        return out
    }

    private func more(_ count: Int) -> String {
        count > Self.shown ? " (and \(count - Self.shown) more)" : ""
    }
}
