/// The call and return entries of one partition's operations in time order, as a circular
/// doubly linked list: linearizing an operation lifts both its entries out, backtracking puts
/// them back (in the reverse order, so the links are restored exactly).
///
/// Operations are numbered in invocation order. An operation whose outcome is unknown has a call
/// entry and no return entry: nothing ever forces it to be linearized.
struct EntryList {
    /// Entry 0 is the head; entries 1... follow in time order, calls before returns at equal
    /// times (so operations that meet at one instant count as concurrent).
    private(set) var next: [Int32]
    private var prev: [Int32]
    /// Each entry's operation (-1 for the head).
    let op: [Int32]
    /// Whether each entry is a call (false for returns and the head).
    let isCall: [Bool]
    /// Each operation's call entry.
    let callEntry: [Int32]
    /// Each operation's return entry, 0 when its outcome is unknown.
    let returnEntry: [Int32]

    /// `completed[i]` is nil for an unknown outcome; operations are in invocation order.
    init(invoked: [Int64], completed: [Int64?]) {
        assert(invoked.count == completed.count)
        assert(zip(invoked, invoked.dropFirst()).allSatisfy { $0 <= $1 }, "operations must be in invocation order")
        var entries: [(time: Int64, isReturn: Bool, op: Int32)] = []
        entries.reserveCapacity(2 * invoked.count)
        for (i, t) in invoked.enumerated() {
            entries.append((t, false, Int32(i)))
            if let c = completed[i] {
                assert(c >= t, "operation \(i) answered before it was invoked")
                entries.append((c, true, Int32(i)))
            }
        }
        entries.sort { ($0.time, $0.isReturn ? 1 : 0, $0.op) < ($1.time, $1.isReturn ? 1 : 0, $1.op) }
        let count = entries.count + 1
        var op = [Int32](repeating: -1, count: count)
        var isCall = [Bool](repeating: false, count: count)
        var callEntry = [Int32](repeating: 0, count: invoked.count)
        var returnEntry = [Int32](repeating: 0, count: invoked.count)
        for (k, e) in entries.enumerated() {
            let entry = Int32(k + 1)
            op[k + 1] = e.op
            isCall[k + 1] = !e.isReturn
            if e.isReturn { returnEntry[Int(e.op)] = entry } else { callEntry[Int(e.op)] = entry }
        }
        self.op = op
        self.isCall = isCall
        self.callEntry = callEntry
        self.returnEntry = returnEntry
        self.next = (0..<count).map { Int32(($0 + 1) % count) }
        self.prev = (0..<count).map { Int32(($0 + count - 1) % count) }
    }

    /// The first entry still in the list (0, the head, when the list is empty).
    var first: Int32 { next[0] }

    /// Takes operation `o`'s entries out of the list.
    mutating func lift(_ o: Int32) {
        unlink(callEntry[Int(o)])
        let r = returnEntry[Int(o)]
        if r != 0 { unlink(r) }
    }

    /// Puts operation `o`'s entries back; `o` must be the operation lifted last.
    mutating func unlift(_ o: Int32) {
        let r = returnEntry[Int(o)]
        if r != 0 { relink(r) }
        relink(callEntry[Int(o)])
    }

    private mutating func unlink(_ e: Int32) {
        let p = prev[Int(e)], n = next[Int(e)]
        next[Int(p)] = n
        prev[Int(n)] = p
    }

    private mutating func relink(_ e: Int32) {
        let p = prev[Int(e)], n = next[Int(e)]
        assert(next[Int(p)] == n && prev[Int(n)] == p, "entries must be put back in reverse order")
        next[Int(p)] = e
        prev[Int(n)] = e
    }
}
