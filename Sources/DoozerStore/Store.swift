/// The replicated state machine (§3): the current tree, the last `history` events with what
/// undoes each (no more than `historyBytes` of them), and the pending WAITs.
///
/// The store holds only the current tree and writes it in place (copy-on-write: nodes that a
/// snapshot still holds are copied first, so snapshots never change). A snapshot of an older
/// retained revision is rebuilt on a copy-on-write view of the current tree (or of a cached
/// rebuild) by undoing or replaying the events in between; the last few are cached, so reading
/// one revision many times, or stepping through revisions in order, stays cheap.
///
/// Owns all store state; `apply` is the only writer of the tree and history (`snapshot(at:)`
/// only fills its cache of rebuilt snapshots). It is a class used from one thread (the
/// server's loop) and is deliberately not `Sendable`; hand `Snapshot`s and `Event`s (both
/// `Sendable`) to other threads instead. It does no I/O, reads no clock and never blocks:
/// blocking reads (`.future`) and pending WAITs are the caller's to park.
public final class Store {
    /// Revisions retained (`-hist`), at least 1.
    public let history: Int
    /// Bytes of history retained (`-histbytes`), as `HistoryRing.Slot.bytes` counts them; the
    /// newest revision is kept whatever its size.
    public let historyBytes: Int
    /// The current revision: the last applied seqn (0 for a new store).
    public private(set) var rev: Int64
    /// The tree right after `rev`.
    public var current: Snapshot { Snapshot(rev: rev, root: root) }
    private var root: Node?

    private var ring = HistoryRing()
    private var watches = WatchIndex()
    /// WAITs whose scan of history did not fit in one budget, oldest first, from `scanHead`.
    private var scans: [HistoryScan] = []
    private var scanHead = 0
    /// Recently rebuilt snapshots of older revisions, most recent use last.
    private var rebuilt: [Snapshot] = []
    /// How many rebuilt snapshots of older revisions are kept.
    public static let rebuiltCacheSize = 4

    /// A new, empty store at revision 0 retaining the last `history` revisions (default 2000
    /// at the call site; values below 1 are treated as 1) and at most about `historyBytes` of
    /// them.
    public init(history: Int, historyBytes: Int = Store.defaultHistoryBytes) {
        self.history = max(1, history)
        self.historyBytes = max(0, historyBytes)
        self.rev = 0
        self.root = nil
    }

    /// A store that starts from `snapshot` *as revision `snapshot.rev`* (B8: installing a clone).
    /// Its history starts at `snapshot.rev + 1`.
    public init(history: Int, historyBytes: Int = Store.defaultHistoryBytes, restoring snapshot: Snapshot) {
        self.history = max(1, history)
        self.historyBytes = max(0, historyBytes)
        self.rev = snapshot.rev
        self.root = snapshot.root
    }

    /// Replaces the whole state with `snapshot`, taken after a later revision than this
    /// store's (a node that fell behind what its peers keep catches up this way): the store is
    /// then at `snapshot.rev` with history from `snapshot.rev + 1`, as if restored (B8). Pending
    /// WAITs can no longer be answered from history: they are removed and their owners
    /// returned, in registration order, to be told TOO_LATE.
    public func install(_ snapshot: Snapshot) -> [WatchOwner] {
        precondition(snapshot.rev > rev, "a snapshot installed over a store must be newer")
        root = snapshot.root
        rev = snapshot.rev
        ring = HistoryRing()
        rebuilt = []
        scans = []
        scanHead = 0
        return watches.removeAll()
    }

    /// The default of `historyBytes`: 256 MiB.
    public static let defaultHistoryBytes = 256 << 20

    /// Oldest revision whose snapshot and event are kept; reads and WAITs naming an earlier
    /// revision are TOO_LATE. After each apply the last `history` revisions are kept, fewer
    /// when they hold more than `historyBytes` (but always the newest).
    public var oldestRetained: Int64 {
        rev - Int64(ring.count) + 1
    }

    /// Bytes the retained history holds, as `historyBytes` counts them.
    public var retainedHistoryBytes: Int { ring.bytes }

    /// Number of pending WAITs.
    public var pendingWaits: Int { watches.count }
    var liveTrieNodes: Int { watches.liveTrieNodes }

    public enum At: Sendable {
        case snapshot(Snapshot)
        case tooLate
        case future
    }

    /// The tree right after `rev` (§2.6; the caller clamps rev < 1 to 1). O(1) for the current
    /// revision, which is always available, even before any history exists. An older retained
    /// revision is rebuilt from the nearest of the current tree and the cached rebuilds —
    /// undoing the events after it, or replaying those up to it from an older rebuild — copying
    /// only the paths those events touched, and is then cached.
    public func snapshot(at rev: Int64) -> At {
        if rev > self.rev { return .future }
        if rev == self.rev { return .snapshot(current) }
        let oldest = oldestRetained
        if rev < oldest { return .tooLate }
        rebuilt.removeAll { $0.rev < oldest }
        var start = current
        var hit: Int? = nil
        for (i, s) in rebuilt.enumerated() where abs(s.rev - rev) < abs(start.rev - rev) {
            start = s
            hit = i
        }
        if let hit {
            rebuilt.remove(at: hit)
            rebuilt.append(start)   // most recently used
            if start.rev == rev { return .snapshot(start) }
        }
        var tree = start.root
        var s = start.rev
        while s > rev {
            let slot = ring[s - oldest]
            if let undo = slot.undo {
                slot.event.path.withUnsafeBytes { Tree.restore(&tree, $0, undo) }
            }
            s -= 1
        }
        while s < rev {
            s += 1
            let mutation = ring[s - oldest].event.mutation
            _ = mutation.withUnsafeBytes { Self.transition(&tree, $0, mutation: mutation, seqn: s) }
        }
        let snapshot = Snapshot(rev: rev, root: tree)
        if rebuilt.count == Self.rebuiltCacheSize { rebuilt.removeFirst() }
        rebuilt.append(snapshot)
        return .snapshot(snapshot)
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
    /// an unconditional write of its text to `/ctl/err` — records the event and what undoes
    /// it, trims history to the last `history` revisions and `historyBytes` (oldest first),
    /// and fires matching WAITs.
    @discardableResult
    public func apply(_ mutation: [UInt8]) -> Applied {
        let seqn = rev + 1
        let (event, undo) = mutation.withUnsafeBytes { m in
            Self.transition(&root, m, mutation: mutation, seqn: seqn)
        }
        rev = seqn
        ring.append(HistoryRing.Slot(event: event, undo: undo))
        while ring.count > history || (ring.count > 1 && ring.bytes > historyBytes) { ring.removeFirst() }
        let fired = watches.fire(event)
        return Applied(event: event, fired: fired)
    }

    /// The transition function: changes the tree at `root` by `mutation` and returns the
    /// event, and what undoes the change (nil when nothing changed).
    static func transition(_ root: inout Node?, _ m: UnsafeRawBufferPointer, mutation: [UInt8],
                           seqn: Int64) -> (Event, Undo?) {
        do throws(MutationError) {
            switch try Mutation.decode(m) {
            case .nop:
                return (Event(seqn: seqn, path: Event.rootPath, body: [], kind: .nop, rev: -3,
                              error: nil, mutation: mutation), nil)
            case .set(let r, let pr, let br):
                let path = UnsafeRawBufferPointer(rebasing: m[pr])
                if Tree.ancestorIsFile(root, path) { throw .notDirectory }
                try check(r, Tree.currentRev(root, path))
                let body = Array(UnsafeRawBufferPointer(rebasing: m[br]))
                let undo = Tree.set(&root, path, body: body, rev: seqn)
                return (Event(seqn: seqn, path: Array(path), body: body, kind: .set, rev: seqn,
                              error: nil, mutation: mutation), undo)
            case .delete(let r, let pr):
                let path = UnsafeRawBufferPointer(rebasing: m[pr])
                // The condition rev as for a write: file rev, 0 when missing (B6 included),
                // −2 for a directory.
                var undo: Undo? = nil
                let cur: Int64
                switch Tree.find(root, path) {
                case .node(let e):
                    if case .file(let old) = e.payload {
                        cur = e.rev
                        undo = Undo(end: path.count, previous: .file(old), rev: e.rev)
                    } else {
                        cur = -2
                    }
                case .root: cur = -2
                case .missing: cur = 0
                }
                try check(r, cur)
                // Missing paths are a successful delete that changes nothing.
                if undo != nil { Tree.delete(&root, path) }
                return (Event(seqn: seqn, path: Array(path), body: [], kind: .delete, rev: 0,
                              error: nil, mutation: mutation), undo)
            }
        } catch {
            let text = error.textBytes
            let undo = Event.errPath.withUnsafeBytes { Tree.set(&root, $0, body: text, rev: seqn) }
            return (Event(seqn: seqn, path: Event.errPath, body: text, kind: .set, rev: seqn,
                          error: error, mutation: mutation), undo)
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
        /// comes, or `continueHistoryScans` if the scan of history was not finished; the id
        /// cancels it until then.
        case pending(WatchID)
        case tooLate
    }

    /// The work one call of `wait` or `continueHistoryScans` may spend matching retained
    /// events, in units of `Glob.wordsPerByte` × path bytes plus `eventScanCost` per event:
    /// about a millisecond. Scanning 2,000 events of short paths with any glob costs a tenth
    /// of it, so only WAITs that combine long globs, long paths and a deep history are
    /// spread over several loop turns.
    public static let scanBudget = 1 << 20
    static let eventScanCost = 16

    /// WAIT (§2.7): the first retained event with seqn ≥ `from` (the caller clamps from < 1
    /// to 1) whose path matches `glob`. If there is none yet, a watch for `owner` is
    /// registered; it fires once, on the first matching event.
    ///
    /// The scan of history spends at most `scanBudget`; a WAIT whose scan does not finish
    /// within it is pending, and `continueHistoryScans` goes on with it where it stopped.
    public func wait(_ glob: Glob, from: Int64, owner: WatchOwner) -> WaitResult {
        if from < oldestRetained { return .tooLate }
        var next = from
        var budget = Self.scanBudget
        if let e = scan(glob, from: &next, budget: &budget) { return .fired(e) }
        if next > rev { return .pending(watches.add(glob: glob, from: from, next: rev + 1, owner: owner)) }
        let id = watches.addScanning(glob: glob, owner: owner)
        scans.append(HistoryScan(id: id, glob: glob, next: next))
        return .pending(id)
    }

    /// Whether some WAIT's scan of history is unfinished: call `continueHistoryScans`
    /// (in a later loop turn, so other work comes in between).
    public var hasHistoryScans: Bool { scanHead < scans.count }

    /// What an unfinished scan of history came to.
    public enum ScanOutcome: Sendable {
        /// The WAIT's first matching event; the watch is removed.
        case fired(WatchOwner, Event)
        /// The events still to scan left history first (a flood of writes outpaced the
        /// scan): the WAIT is answered as one naming a dropped revision.
        case tooLate(WatchOwner)
    }

    /// Goes on with unfinished scans of history, oldest WAIT first, spending at most
    /// `scanBudget`. A scan that reaches the last applied event without a match leaves its
    /// watch armed like any other; those that end otherwise are returned, in order.
    public func continueHistoryScans() -> [ScanOutcome] {
        var outcomes: [ScanOutcome] = []
        var budget = Self.scanBudget
        while budget > 0 && scanHead < scans.count {
            let scan = scans[scanHead]
            guard watches.isPending(scan.id) else {   // cancelled meanwhile
                scanHead += 1
                continue
            }
            var next = scan.next
            if next < oldestRetained {
                if let owner = watches.take(scan.id) { outcomes.append(.tooLate(owner)) }
            } else if let e = self.scan(scan.glob, from: &next, budget: &budget) {
                if let owner = watches.take(scan.id) { outcomes.append(.fired(owner, e)) }
            } else if next > rev {
                watches.armScanned(scan.id)
            } else {
                scans[scanHead].next = next   // out of budget: on with it next time
                break
            }
            scanHead += 1
        }
        if scanHead == scans.count {
            scans.removeAll(keepingCapacity: true)
            scanHead = 0
        }
        return outcomes
    }

    /// The first retained event from seqn `next` on whose path matches `glob`, spending at
    /// most `budget` (see `scanBudget`); nil when out of budget (`next` is then the event to
    /// look at next) or past the last event (`next` is `rev + 1`).
    private func scan(_ glob: Glob, from next: inout Int64, budget: inout Int) -> Event? {
        let oldest = oldestRetained
        let words = glob.wordsPerByte
        while next <= rev && budget > 0 {
            let e = ring[next - oldest].event
            budget -= e.path.count &* words &+ Self.eventScanCost
            if e.path.withUnsafeBytes({ glob.matches($0) }) { return e }
            next += 1
        }
        return nil
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

/// A WAIT whose scan of history continues in a later loop turn.
struct HistoryScan {
    let id: WatchID
    let glob: Glob
    /// The seqn of the next event to look at.
    var next: Int64
}

/// The retained events and their undos, oldest first, in a growable circular buffer.
struct HistoryRing {
    struct Slot {
        let event: Event
        /// Undoes the event's change to the tree; nil if it changed nothing.
        let undo: Undo?
        /// What keeping it costs: its byte strings (path, body, mutation) and the body its undo
        /// holds, counted as if none were shared (a body shared with the tree or another
        /// slot is counted again), plus a fixed overhead.
        let bytes: Int

        init(event: Event, undo: Undo?) {
            self.event = event
            self.undo = undo
            var bytes = Self.overhead + event.path.count + event.body.count + event.mutation.count
            if case .file(let previous)? = undo?.previous { bytes += previous.count }
            self.bytes = bytes
        }

        /// The slot, the event and its arrays' headers, roughly.
        static let overhead = 160
    }

    private var slots: ContiguousArray<Slot?> = []
    private var head = 0
    private(set) var count = 0
    /// The sum of the retained slots' `bytes`.
    private(set) var bytes = 0

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
        bytes += s.bytes
    }

    mutating func removeFirst() {
        bytes -= slots[head]!.bytes
        slots[head] = nil
        head = (head + 1) & (slots.count - 1)
        count -= 1
    }
}
