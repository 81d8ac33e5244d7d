/// Identifies one pending WAIT; chosen by the caller, unique among pending watches.
public typealias WatchID = UInt64

/// Pending watches indexed by their glob's literal prefix in a byte trie: an event visits only
/// the watches whose prefix is a prefix of its path, then confirms with `Glob.matches`.
/// Owns the pending watches; it never sees events that are not handed to `fire`.
struct WatchIndex {
    struct Watcher {
        let id: WatchID
        let from: Int64
        let order: UInt64
        let glob: Glob
    }

    struct TrieNode {
        var parent: Int32
        var byte: UInt8
        var children: [(byte: UInt8, node: Int32)] = []
        var watchers: [Watcher] = []
    }

    private var nodes: [TrieNode] = [TrieNode(parent: -1, byte: 0)]
    private var freeNodes: [Int32] = []
    private var location: [WatchID: (node: Int32, slot: Int32)] = [:]
    private var nextOrder: UInt64 = 0

    var count: Int { location.count }
    /// Trie nodes in use (the root included); for tests.
    var liveTrieNodes: Int { nodes.count - freeNodes.count }

    private func child(_ node: Int32, _ byte: UInt8) -> Int32? {
        for c in nodes[Int(node)].children where c.byte == byte { return c.node }
        return nil
    }

    mutating func add(id: WatchID, glob: Glob, from: Int64) {
        remove(id)
        var node: Int32 = 0
        for b in glob.literalPrefix {
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
        let slot = Int32(nodes[Int(node)].watchers.count)
        nodes[Int(node)].watchers.append(Watcher(id: id, from: from, order: nextOrder, glob: glob))
        nextOrder &+= 1
        location[id] = (node, slot)
    }

    /// Drops a pending watch; false if `id` is not pending.
    @discardableResult
    mutating func remove(_ id: WatchID) -> Bool {
        guard let loc = location.removeValue(forKey: id) else { return false }
        let n = Int(loc.node)
        let s = Int(loc.slot)
        let last = nodes[n].watchers.count - 1
        if s != last {
            let moved = nodes[n].watchers[last]
            nodes[n].watchers[s] = moved
            location[moved.id] = (loc.node, loc.slot)
        }
        nodes[n].watchers.removeLast()
        prune(loc.node)
        return true
    }

    /// Releases trie nodes that hold neither watchers nor children (never the root).
    private mutating func prune(_ start: Int32) {
        var node = start
        while node != 0 && nodes[Int(node)].watchers.isEmpty && nodes[Int(node)].children.isEmpty {
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

    /// Removes and returns, in registration order, every watch that `event` fires.
    mutating func fire(_ event: Event) -> [WatchID] {
        if location.isEmpty { return [] }
        var hits: [(order: UInt64, id: WatchID)] = []
        event.path.withUnsafeBytes { path in
            var node: Int32 = 0
            var i = 0
            while true {
                for w in nodes[Int(node)].watchers where event.seqn >= w.from && w.glob.matches(path) {
                    hits.append((w.order, w.id))
                }
                if i == path.count { break }
                guard let c = child(node, path[i]) else { break }
                node = c
                i += 1
            }
        }
        if hits.isEmpty { return [] }
        if hits.count > 1 { hits.sort { $0.order < $1.order } }
        var ids: [WatchID] = []
        ids.reserveCapacity(hits.count)
        for h in hits {
            remove(h.id)
            ids.append(h.id)
        }
        return ids
    }
}
