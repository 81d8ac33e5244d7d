/// The search for a linearization of one partition: Wing and Gong's backtracking search with
/// Lowe's improvements. Only operations called before the first pending return are tried
/// (just-in-time linearization), and every (set of linearized operations, states) reached is
/// remembered so that reaching it again by another order is pruned.
///
/// A nondeterministic model is searched through sets of states (the states the operations
/// linearized so far may have left), so one path of the search covers every choice the model
/// makes. An operation of unknown outcome never has to be linearized; linearizing it adds the
/// states it leads to, keeping those it started from (it took effect there, or not at all).
///
/// The answered operations linearized are kept as the highest one and those below it still
/// pending (at most the concurrent ones), not as a bitset over the partition, so memory grows
/// with the steps taken rather than with their product with the partition's size; the unknown
/// ones as a bitset over the unknown operations.
struct Search<M: Model> {
    /// How operations of unknown outcome are searched.
    enum Mode {
        /// Each takes effect at most once, tried first at every point. Exact, but k of them
        /// pending make up to 2^k points, which a history with no linearization may visit.
        case exact
        /// Each may take effect any number of times: at every point the states are closed
        /// under all those invoked by then, and the search branches on answered operations
        /// only. It accepts more histories than `.exact`; one it rejects has no linearization.
        case repeatable
    }

    /// The longest partial linearization found and where it stopped.
    struct Deepest {
        /// Operations linearized.
        var depth: Int
        /// The last operations linearized, oldest first (at most `Search.tailLength`).
        var tail: [Int32]
        /// The operation whose return was reached without it being linearized.
        var stuck: Int32
        /// The answered operations invoked and not yet linearized there (`stuck` among them).
        var pending: [Int32]
        /// The operations of unknown outcome invoked and not linearized there.
        var pendingUnknown: [Int32]
        var states: Set<M.State>
    }

    private struct Frame {
        let op: Int32
        let states: Set<M.State>
        let high: Int32
    }

    /// A point of the search: the operations linearized and the states.
    private struct Point: Hashable {
        let high: Int32
        let holes: [Int32]
        let unknown: [UInt64]
        let states: Set<M.State>
    }

    static var tailLength: Int { 8 }

    private let model: M
    private let mode: Mode
    private let inputs: [M.Input]
    private let outputs: [M.Output?]
    /// Each operation's bit among the unknown ones, -1 for an answered one.
    private let unknownBit: [Int32]
    private var list: EntryList
    private var stack: [Frame] = []
    private var memo: Set<Point> = []
    private var unknownLinearized: [UInt64]
    private var states: Set<M.State>
    /// The highest answered operation linearized, -1 when none is.
    private var high: Int32 = -1
    /// Answered operations not yet linearized: zero means done.
    private var pendingReturns: Int
    /// The entry to look at next (a search may be resumed with more budget).
    private var cursor: Int32 = 0
    private(set) var steps = 0
    private(set) var deepest: Deepest?

    /// `operations` are one partition's, in invocation order.
    init(model: M, operations: [Op<M.Input, M.Output>], mode: Mode) {
        self.model = model
        self.mode = mode
        inputs = operations.map(\.input)
        outputs = operations.map(\.outcome.output)
        list = EntryList(invoked: operations.map(\.invoked), completed: operations.map(\.outcome.completed))
        var unknown: Int32 = 0
        unknownBit = operations.map { op in
            guard op.outcome.completed == nil else { return -1 }
            defer { unknown += 1 }
            return unknown
        }
        unknownLinearized = [UInt64](repeating: 0, count: (Int(unknown) + 63) / 64)
        pendingReturns = operations.count - Int(unknown)
        states = [model.initial]
        cursor = list.first
        if mode == .repeatable { states = closure(states) }
    }

    /// Whether the partition has operations of unknown outcome (else both modes are the same).
    var hasUnknown: Bool { !unknownLinearized.isEmpty }

    /// Searches until every answered operation is linearized, no order works, or `budget`
    /// steps in all (one entry looked at, or one model step in a closure, each) are spent; after
    /// `.unknown`, running again with a larger budget goes on from there.
    mutating func run(budget: Int) -> Verdict {
        while pendingReturns > 0 {
            if steps >= budget { return .unknown }
            steps += 1
            if list.isCall[Int(cursor)] {
                let op = list.op[Int(cursor)]
                if (mode == .exact || !isUnknown(op)) && tryLinearize(op) {
                    cursor = list.first
                } else {
                    cursor = list.next[Int(cursor)]
                }
            } else {
                noteDeepest(stuckAt: cursor)
                guard let frame = stack.popLast() else { return .notLinearizable }
                undo(frame)
                cursor = list.next[Int(list.callEntry[Int(frame.op)])]
            }
        }
        return .linearizable
    }

    private func isUnknown(_ op: Int32) -> Bool { unknownBit[Int(op)] >= 0 }

    /// Linearizes `op` next if the model allows it and the point reached is new.
    private mutating func tryLinearize(_ op: Int32) -> Bool {
        var after = isUnknown(op) ? states : []
        for s in states {
            for t in model.step(s, inputs[Int(op)], outputs[Int(op)]) { after.insert(t) }
        }
        if after.isEmpty || after == states && isUnknown(op) { return false }
        list.lift(op)
        flipUnknown(op)
        let newHigh = isUnknown(op) ? high : max(high, op)
        if mode == .repeatable { after = closure(after) }
        guard memo.insert(Point(high: newHigh, holes: holes(below: newHigh), unknown: unknownLinearized, states: after)).inserted else {
            flipUnknown(op)
            list.unlift(op)
            return false
        }
        stack.append(Frame(op: op, states: states, high: high))
        if !isUnknown(op) { pendingReturns -= 1 }
        states = after
        high = newHigh
        return true
    }

    private mutating func undo(_ frame: Frame) {
        list.unlift(frame.op)
        flipUnknown(frame.op)
        if !isUnknown(frame.op) { pendingReturns += 1 }
        states = frame.states
        high = frame.high
    }

    /// Marks an unknown operation linearized, or no longer.
    private mutating func flipUnknown(_ op: Int32) {
        let bit = unknownBit[Int(op)]
        if bit >= 0 { unknownLinearized[Int(bit) / 64] ^= 1 << UInt64(bit % 64) }
    }

    /// `states` and every state the unknown operations invoked by now (called before the first
    /// pending return) lead to from them, any number of times.
    private mutating func closure(_ states: Set<M.State>) -> Set<M.State> {
        var available: [Int32] = []
        var e = list.first
        while list.isCall[Int(e)] {
            if isUnknown(list.op[Int(e)]) { available.append(list.op[Int(e)]) }
            e = list.next[Int(e)]
        }
        var closed = states
        var work = Array(states)
        while let s = work.popLast() {
            steps += available.count
            for u in available {
                for t in model.step(s, inputs[Int(u)], nil) where closed.insert(t).inserted { work.append(t) }
            }
        }
        return closed
    }

    /// The answered operations numbered below `high` still pending. Every entry in the list
    /// before the call of the highest linearized answered operation is a call (that call was
    /// linearized just in time, before any pending return, and entries only leave the list
    /// along a search path), so they are among the calls at the head of the list.
    private func holes(below high: Int32) -> [Int32] {
        var holes: [Int32] = []
        var e = list.first
        while list.isCall[Int(e)] && list.op[Int(e)] < high {
            if !isUnknown(list.op[Int(e)]) { holes.append(list.op[Int(e)]) }
            e = list.next[Int(e)]
        }
        return holes
    }

    /// Records where the search stands when it is the furthest it has come.
    private mutating func noteDeepest(stuckAt entry: Int32) {
        if let deepest, deepest.depth >= stack.count { return }
        var pending: [Int32] = [], pendingUnknown: [Int32] = []
        var e = list.first
        while e != entry {
            assert(list.isCall[Int(e)], "the first return in the list is where the search stopped")
            let op = list.op[Int(e)]
            if isUnknown(op) { pendingUnknown.append(op) } else { pending.append(op) }
            e = list.next[Int(e)]
        }
        deepest = Deepest(depth: stack.count, tail: stack.suffix(Self.tailLength).map(\.op),
                          stuck: list.op[Int(entry)], pending: pending, pendingUnknown: pendingUnknown,
                          states: states)
    }
}
