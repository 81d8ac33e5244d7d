/// The replicated state machine (§3): the current tree, the last `history` events with their
/// snapshots, and the pending WAITs.
///
/// Owns all store state; `apply` is its only writer. It is a class used from one thread (the
/// server's loop) and is deliberately not `Sendable`; hand `Snapshot`s and `Event`s (both
/// `Sendable`) to other threads instead. It does no I/O, reads no clock and never blocks:
/// blocking reads (`.future`) and pending WAITs are the caller's to park.
public final class Store {
    /// Revisions retained (`-hist`), at least 1.
    public let history: Int
    /// The current revision: the last applied seqn (0 for a new store).
    public private(set) var rev: Int64
    /// The tree right after `rev`.
    public private(set) var current: Snapshot
    /// The revision the store started from (0, or the clone point of a restored store).
    public let base: Int64

    private var ring = HistoryRing()
    private var watches = WatchIndex()

    /// A new, empty store at revision 0 retaining the last `history` revisions (default 2000
    /// at the call site; values below 1 are treated as 1).
    public init(history: Int) {
        self.history = max(1, history)
        self.rev = 0
        self.base = 0
        self.current = Snapshot(rev: 0, root: nil)
    }

    /// A store that starts from `snapshot` *as revision `snapshot.rev`* (B8: installing a clone).
    /// Its history starts at `snapshot.rev + 1`.
    public init(history: Int, restoring snapshot: Snapshot) {
        self.history = max(1, history)
        self.rev = snapshot.rev
        self.base = snapshot.rev
        self.current = snapshot
    }

    /// Oldest revision whose snapshot and event are kept; reads and WAITs naming an earlier
    /// revision are TOO_LATE. Exactly the last `history` revisions are kept after each apply.
    public var oldestRetained: Int64 {
        max(base + 1, rev - Int64(history) + 1)
    }

    /// Number of pending WAITs.
    public var pendingWaits: Int { watches.count }
    var liveTrieNodes: Int { watches.liveTrieNodes }

    public enum At: Sendable {
        case snapshot(Snapshot)
        case tooLate
        case future
    }

    /// The tree right after `rev` (§2.6; the caller clamps rev < 1 to 1). O(1).
    /// The current revision is always available, even before any history exists.
    public func snapshot(at rev: Int64) -> At {
        if rev > self.rev { return .future }
        if rev == self.rev { return .snapshot(current) }
        if rev < oldestRetained { return .tooLate }
        return .snapshot(Snapshot(rev: rev, root: ring[rev - oldestRetained].root))
    }

    /// The event of a retained seqn.
    public func event(at seqn: Int64) -> Event? {
        guard seqn >= oldestRetained, seqn <= rev else { return nil }
        return ring[seqn - oldestRetained].event
    }

    public struct Applied: Sendable {
        public let event: Event
        /// The owners of the WAITs this event fired (now removed), in registration order.
        public let fired: [WatchOwner]
    }

    /// Applies `mutation` (§3.4 bytes) at seqn `rev + 1` exactly as §3.5 — a failure becomes
    /// an unconditional write of its text to `/ctl/err` — records the event and snapshot,
    /// trims history to the last `history` revisions, and fires matching WAITs.
    @discardableResult
    public func apply(_ mutation: [UInt8]) -> Applied {
        let seqn = rev + 1
        let (event, root) = mutation.withUnsafeBytes { m in
            Self.transition(current.root, m, mutation: mutation, seqn: seqn)
        }
        rev = seqn
        current = Snapshot(rev: seqn, root: root)
        ring.append(HistoryRing.Slot(event: event, root: root))
        while ring.count > history { ring.removeFirst() }
        let fired = watches.fire(event)
        return Applied(event: event, fired: fired)
    }

    /// The pure transition function: old root + mutation → event + new root.
    static func transition(_ root: Node?, _ m: UnsafeRawBufferPointer, mutation: [UInt8],
                           seqn: Int64) -> (Event, Node?) {
        do throws(MutationError) {
            switch try Mutation.decode(m) {
            case .nop:
                return (Event(seqn: seqn, path: Event.rootPath, body: [], kind: .nop, rev: -3,
                              error: nil, mutation: mutation), root)
            case .set(let r, let pr, let br):
                let path = UnsafeRawBufferPointer(rebasing: m[pr])
                if Tree.ancestorIsFile(root, path) { throw .notDirectory }
                try check(r, Tree.currentRev(root, path))
                let body = Array(UnsafeRawBufferPointer(rebasing: m[br]))
                let newRoot = Tree.set(root, path, from: 1, body: body, rev: seqn)
                return (Event(seqn: seqn, path: Array(path), body: body, kind: .set, rev: seqn,
                              error: nil, mutation: mutation), newRoot)
            case .delete(let r, let pr):
                let path = UnsafeRawBufferPointer(rebasing: m[pr])
                let cur = Tree.currentRev(root, path)
                try check(r, cur)
                // cur > 0: an existing file. Missing paths (including B6, below a file) are a
                // successful delete that changes nothing.
                let newRoot = cur > 0 ? Tree.delete(root, path, from: 1) : root
                return (Event(seqn: seqn, path: Array(path), body: [], kind: .delete, rev: 0,
                              error: nil, mutation: mutation), newRoot)
            }
        } catch {
            let text = error.textBytes
            let newRoot = Event.errPath.withUnsafeBytes {
                Tree.set(root, $0, from: 1, body: text, rev: seqn)
            }
            return (Event(seqn: seqn, path: Event.errPath, body: text, kind: .set, rev: seqn,
                          error: error, mutation: mutation), newRoot)
        }
    }

    /// §3.5 step 4 / §3.6: rev check first, then is-a-directory.
    @inline(__always)
    static func check(_ r: Int64, _ cur: Int64) throws(MutationError) {
        if r != -1 && r < cur { throw .revMismatch }
        if cur == -2 { throw .isDirectory }
    }

    public enum WaitResult: Sendable {
        case fired(Event)
        /// Registered: `apply` reports the owner in `Applied.fired` when a matching event
        /// comes; the id cancels it until then.
        case pending(WatchID)
        case tooLate
    }

    /// WAIT (§2.7): the first retained event with seqn ≥ `from` (the caller clamps from < 1
    /// to 1) whose path matches `glob`. If there is none yet, a watch for `owner` is
    /// registered; it fires once, on the first matching event.
    public func wait(_ glob: Glob, from: Int64, owner: WatchOwner) -> WaitResult {
        let oldest = oldestRetained
        if from < oldest { return .tooLate }
        var s = from
        while s <= rev {
            let e = ring[s - oldest].event
            if e.path.withUnsafeBytes({ glob.matches($0) }) { return .fired(e) }
            s += 1
        }
        return .pending(watches.add(glob: glob, from: from, next: rev + 1, owner: owner))
    }

    /// B13: drops a pending WAIT (e.g. its connection closed). Ids that already fired or
    /// were cancelled are ignored.
    public func cancelWait(_ id: WatchID) {
        watches.remove(id)
    }

    /// Whether the WAIT `id` is still registered (neither fired nor cancelled).
    public func isPending(_ id: WatchID) -> Bool {
        watches.isPending(id)
    }
}

/// The retained events and roots, oldest first, in a growable circular buffer.
struct HistoryRing {
    struct Slot {
        let event: Event
        let root: Node?
    }

    private var slots: ContiguousArray<Slot?> = []
    private var head = 0
    private(set) var count = 0

    subscript(i: Int64) -> Slot {
        slots[(head &+ Int(i)) & (slots.count &- 1)]!
    }

    mutating func append(_ s: Slot) {
        if count == slots.count {   // capacities are powers of two, so positions are masks
            var grown = ContiguousArray<Slot?>(repeating: nil, count: max(16, slots.count * 2))
            for i in 0..<count { grown[i] = slots[(head + i) & (slots.count - 1)] }
            slots = grown
            head = 0
        }
        slots[(head + count) & (slots.count - 1)] = s
        count += 1
    }

    mutating func removeFirst() {
        slots[head] = nil
        head = (head + 1) & (slots.count - 1)
        count -= 1
    }
}
