/// Identifies one pending WAIT. Chosen by the store when the WAIT is registered; an id stays
/// distinct from ids reused later (a slot and that slot's generation).
public typealias WatchID = UInt64

/// Who a pending WAIT answers, opaque to the store: handed back when the watch fires.
public struct WatchOwner: Sendable, Equatable {
    /// The owner's handle (a connection, say).
    public var token: UInt64
    /// Whatever else the owner needs to route the answer (a request tag, say).
    public var cookie: Int64

    public init(token: UInt64, cookie: Int64) {
        self.token = token
        self.cookie = cookie
    }
}

/// Pending watches, kept in a slab so registering, firing and cancelling hash nothing.
///
/// A watch that can fire on the next event is *armed*: listed at the trie node of its glob's
/// literal prefix (a byte trie), so an event visits only the watches whose prefix is a prefix
/// of its path, then confirms with `Glob.matches`. A watch for a later revision waits unarmed
/// in a bucket for that revision and is armed just before that event is fired, so watchers
/// that pipeline WAITs at future revisions cost nothing per event until theirs comes. Buckets
/// for the next `window` revisions are a ring; later ones are hashed by revision.
/// Owns the pending watches; it never sees events that are not handed to `fire`.
struct WatchIndex {
    /// Where a slab slot's watch is.
    enum Place {
        case free
        /// In `nodes[node].watchers[at]`.
        case armed(at: Int32)
        /// In the ring bucket for `from`, at `at`.
        case near(from: Int64, at: Int32)
        /// In `far[from]`, at `at`.
        case far(from: Int64, at: Int32)
        /// In no list: the store is still scanning history for it (`Store.continueHistoryScans`).
        case scanning
    }

    struct Record {
        var generation: UInt32
        var place: Place
        /// The trie node of the glob's literal prefix; pinned while the watch is pending.
        var node: Int32
        var order: UInt64
        var owner: WatchOwner
        var glob: Glob?
    }

    struct TrieNode {
        var parent: Int32
        var byte: UInt8
        var children: [(byte: UInt8, node: Int32)] = []
        /// Slab slots of the armed watches whose literal prefix ends here.
        var watchers: [Int32] = []
        /// Pending watches (armed or not) whose literal prefix ends here.
        var pins: Int32 = 0
    }

    static let window = 256
    /// How much of a glob's literal prefix the trie indexes. A watch sits at the node of the
    /// prefix's first `indexedPrefix` bytes and `Glob.matches` confirms the rest, so a long
    /// literal WAIT costs a bounded number of trie nodes (about 80 bytes each) instead of one
    /// per pattern byte; prefixes that differ only past this point share a node.
    static let indexedPrefix = 128

    private var records: [Record] = []
    private var freeSlots: [Int32] = []
    private var nodes: [TrieNode] = [TrieNode(parent: -1, byte: 0)]
    private var freeNodes: [Int32] = []
    /// Unarmed watches for revisions within `window` of the next event, by revision mod window.
    private var near = [[Int32]](repeating: [], count: WatchIndex.window)
    /// Unarmed watches for later revisions.
    private var far: [Int64: [Int32]] = [:]
    private var nextOrder: UInt64 = 0
    private(set) var count = 0
    /// The hits of the event being fired, kept between events so firing allocates only its
    /// result.
    private var hits: [(order: UInt64, slot: Int32)] = []

    /// Trie nodes in use (the root included); for tests.
    var liveTrieNodes: Int { nodes.count - freeNodes.count }

    @inline(__always)
    private static func id(slot: Int32, generation: UInt32) -> WatchID {
        UInt64(generation) << 32 | UInt64(UInt32(bitPattern: slot))
    }

    /// The slot of a pending watch, nil for ids that fired, were cancelled or never existed.
    @inline(__always)
    private func slot(of id: WatchID) -> Int32? {
        let slot = Int(UInt32(truncatingIfNeeded: id))
        guard slot < records.count, records[slot].generation == UInt32(truncatingIfNeeded: id >> 32) else { return nil }
        if case .free = records[slot].place { return nil }
        return Int32(slot)
    }

    func isPending(_ id: WatchID) -> Bool { slot(of: id) != nil }

    @inline(__always)
    private func child(_ node: Int32, _ byte: UInt8) -> Int32? {
        for c in nodes[Int(node)].children where c.byte == byte { return c.node }
        return nil
    }

    /// The trie node for `prefix`, created if missing.
    private mutating func node(for prefix: UnsafeRawBufferPointer) -> Int32 {
        var node: Int32 = 0
        for b in prefix {
            if let c = child(node, b) {
                node = c
                continue
            }
            let fresh = TrieNode(parent: node, byte: b)
            let idx: Int32
            if let f = freeNodes.popLast() {
                idx = f
                nodes[Int(f)] = fresh
            } else {
                idx = Int32(nodes.count)
                nodes.append(fresh)
            }
            let kids = nodes[Int(node)].children
            let at = kids.firstIndex { $0.byte > b } ?? kids.count
            nodes[Int(node)].children.insert((b, idx), at: at)
            node = idx
        }
        return node
    }

    /// Registers a watch that fires on the first matching event with seqn ≥ `from`;
    /// `next` is the seqn of the next event.
    mutating func add(glob: Glob, from: Int64, next: Int64, owner: WatchOwner) -> WatchID {
        let slot = insert(glob: glob, owner: owner)
        if from <= next {
            arm(slot)
        } else if from - next < Int64(Self.window) {
            let b = Int(from) & (Self.window - 1)
            records[Int(slot)].place = .near(from: from, at: Int32(near[b].count))
            near[b].append(slot)
        } else {
            records[Int(slot)].place = .far(from: from, at: Int32(far[from]?.count ?? 0))
            far[from, default: []].append(slot)
        }
        return Self.id(slot: slot, generation: records[Int(slot)].generation)
    }

    /// Registers a watch whose scan of history is not finished: it is pending (it can be
    /// cancelled, `removeAll` returns it) but no event fires it until `armScanned`.
    mutating func addScanning(glob: Glob, owner: WatchOwner) -> WatchID {
        let slot = insert(glob: glob, owner: owner)
        records[Int(slot)].place = .scanning
        return Self.id(slot: slot, generation: records[Int(slot)].generation)
    }

    /// Arms a watch from `addScanning` whose scan reached the last applied event.
    mutating func armScanned(_ id: WatchID) {
        guard let slot = slot(of: id), case .scanning = records[Int(slot)].place else { return }
        arm(slot)
    }

    /// Removes a pending watch (a scanned one that found its event, say) and returns its owner.
    mutating func take(_ id: WatchID) -> WatchOwner? {
        guard let slot = slot(of: id) else { return nil }
        let owner = records[Int(slot)].owner
        release(slot)
        return owner
    }

    /// A slab slot holding a new watch, placed nowhere yet.
    private mutating func insert(glob: Glob, owner: WatchOwner) -> Int32 {
        let node = glob.withLiteralPrefix { prefix -> Int32 in
            self.node(for: UnsafeRawBufferPointer(rebasing: prefix.prefix(Self.indexedPrefix)))
        }
        nodes[Int(node)].pins += 1
        let slot: Int32
        if let reused = freeSlots.popLast() {
            slot = reused
            records[Int(slot)].node = node
            records[Int(slot)].order = nextOrder
            records[Int(slot)].owner = owner
            records[Int(slot)].glob = glob
        } else {
            slot = Int32(records.count)
            records.append(Record(generation: 0, place: .free, node: node, order: nextOrder, owner: owner, glob: glob))
        }
        nextOrder &+= 1
        count += 1
        return slot
    }

    @inline(__always)
    private mutating func arm(_ slot: Int32) {
        let node = Int(records[Int(slot)].node)
        records[Int(slot)].place = .armed(at: Int32(nodes[node].watchers.count))
        nodes[node].watchers.append(slot)
    }

    /// Drops every pending watch and returns their owners in registration order.
    mutating func removeAll() -> [WatchOwner] {
        var pending: [(order: UInt64, slot: Int32)] = []
        for (slot, record) in records.enumerated() {
            if case .free = record.place { continue }
            pending.append((record.order, Int32(slot)))
        }
        pending.sort { $0.order < $1.order }
        let owners = pending.map { records[Int($0.slot)].owner }
        for (_, slot) in pending { release(slot) }
        return owners
    }

    /// Drops a pending watch; false if `id` is not pending.
    @discardableResult
    mutating func remove(_ id: WatchID) -> Bool {
        guard let slot = slot(of: id) else { return false }
        release(slot)
        return true
    }

    /// Takes the watch in `slot` out of its list and frees the slot.
    private mutating func release(_ slot: Int32) {
        let node = records[Int(slot)].node
        switch records[Int(slot)].place {
        case .free:
            preconditionFailure("watch slot \(slot) released twice")
        case .armed(let at):
            let n = Int(node)
            if let moved = nodes[n].watchers.removeSwapping(at: Int(at)) {
                records[Int(moved)].place = .armed(at: at)
            }
        case .near(let from, let at):
            if let moved = near[Int(from) & (Self.window - 1)].removeSwapping(at: Int(at)) {
                records[Int(moved)].place = .near(from: from, at: at)
            }
        case .far(let from, let at):
            if let moved = far[from]!.removeSwapping(at: Int(at)) {
                records[Int(moved)].place = .far(from: from, at: at)
            }
            if far[from]!.isEmpty { far[from] = nil }
        case .scanning:
            break
        }
        nodes[Int(node)].pins -= 1
        prune(node)
        records[Int(slot)].place = .free
        records[Int(slot)].glob = nil
        records[Int(slot)].generation &+= 1
        freeSlots.append(slot)
        count -= 1
    }

    /// Releases trie nodes that no watch pins and that have no children (never the root).
    private mutating func prune(_ start: Int32) {
        var node = start
        while node != 0 && nodes[Int(node)].pins == 0 && nodes[Int(node)].children.isEmpty {
            let parent = nodes[Int(node)].parent
            let b = nodes[Int(node)].byte
            if let i = nodes[Int(parent)].children.firstIndex(where: { $0.byte == b }) {
                nodes[Int(parent)].children.remove(at: i)
            }
            nodes[Int(node)] = TrieNode(parent: -1, byte: 0)
            freeNodes.append(node)
            node = parent
        }
    }

    /// Removes every watch that `event` fires and returns their owners in registration order.
    /// Events must be handed over in seqn order; the watches waiting for this seqn are armed
    /// first.
    mutating func fire(_ event: Event) -> [WatchOwner] {
        if count == 0 { return [] }
        let b = Int(event.seqn) & (Self.window - 1)
        if !near[b].isEmpty {
            for slot in near[b] { arm(slot) }
            near[b].removeAll(keepingCapacity: true)
        }
        if !far.isEmpty, let due = far.removeValue(forKey: event.seqn) {
            for slot in due { arm(slot) }
        }
        hits.removeAll(keepingCapacity: true)
        event.path.withUnsafeBytes { path in
            var node: Int32 = 0
            var i = 0
            while true {
                for slot in nodes[Int(node)].watchers where records[Int(slot)].glob!.matches(path) {
                    hits.append((records[Int(slot)].order, slot))
                }
                if i == path.count { break }
                guard let c = child(node, path[i]) else { break }
                node = c
                i += 1
            }
        }
        if hits.isEmpty { return [] }
        var inOrder = true
        for k in hits.indices.dropFirst() where hits[k - 1].order > hits[k].order {
            inOrder = false
            break
        }
        if !inOrder { hits.sort { $0.order < $1.order } }
        var owners: [WatchOwner] = []
        owners.reserveCapacity(hits.count)
        for h in hits {
            owners.append(records[Int(h.slot)].owner)
            release(h.slot)
        }
        return owners
    }
}

extension Array where Element == Int32 {
    /// Removes the element at `i` by moving the last one into its place; returns the moved
    /// element, nil if `i` was the last.
    @inline(__always)
    fileprivate mutating func removeSwapping(at i: Int) -> Int32? {
        let last = removeLast()
        if i == count { return nil }
        self[i] = last
        return last
    }
}
