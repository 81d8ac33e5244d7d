// The tree: every directory's children form a treap keyed by name bytes whose priorities are
// a keyed hash of the name (within one process the shape depends only on the set of names),
// with subtree sizes for order statistics. A treap node *is* the directory entry: it carries
// the entry's name (tail-allocated, no separate array), and either a file (body + rev) or a
// directory (the root of the child treap).
//
// Nodes are copy-on-write. A write changes a node in place when nothing but the tree being
// written refers to it, and copies it first otherwise; so a node that a `Snapshot` (or any
// other holder) can reach never changes, and any old root is a frozen snapshot. The store
// holds only its current root, so while no snapshot shares the written path a write allocates
// nothing but new entries.

/// What a directory entry holds.
@usableFromInline
enum Payload {
    case file([UInt8])
    case directory(Node)  // root of the child treap; a stored directory is never empty
}

@usableFromInline
struct NodeHeader {
    var left: Node?
    var right: Node?
    var payload: Payload
    var rev: Int64        // file rev; unused for directories
    var size: UInt32      // entries in this treap subtree
    var prio: UInt32
    var nameCount: UInt32
}

/// One directory entry and treap node; the name bytes follow the header in the same object.
/// Changed only through `Treap.modify` and `Treap.merge`, and only while uniquely referenced,
/// hence safe to share between threads once shared (ManagedBuffer is marked non-Sendable, so
/// `Snapshot` vouches for it with `@unchecked Sendable`).
@usableFromInline
final class Node: ManagedBuffer<NodeHeader, UInt8> {
    // Reads go through the header pointer: a shared node never changes, so the dynamic
    // exclusivity check that `self.header` would cost on every access buys nothing.
    @inline(__always) var left: Node? { withUnsafeMutablePointerToHeader { $0.pointee.left } }
    @inline(__always) var right: Node? { withUnsafeMutablePointerToHeader { $0.pointee.right } }
    @inline(__always) var payload: Payload { withUnsafeMutablePointerToHeader { $0.pointee.payload } }
    @inline(__always) var rev: Int64 { withUnsafeMutablePointerToHeader { $0.pointee.rev } }
    @inline(__always) var size: Int { withUnsafeMutablePointerToHeader { Int($0.pointee.size) } }
    @inline(__always) var prio: UInt32 { withUnsafeMutablePointerToHeader { $0.pointee.prio } }

    // Unretained child references for read-only descents. Invariant: whoever starts a descent
    // holds the root strongly, and nodes reachable from a held root never change, so every node
    // below it stays alive for the whole descent. This saves an atomic retain/release pair per
    // level of a descent.
    @inline(__always) var leftRef: Unmanaged<Node>? {
        withUnsafeMutablePointerToHeader {
            UnsafeRawPointer($0).load(fromByteOffset: MemoryLayout<NodeHeader>.offset(of: \.left)!,
                                      as: Unmanaged<Node>?.self)
        }
    }
    @inline(__always) var rightRef: Unmanaged<Node>? {
        withUnsafeMutablePointerToHeader {
            UnsafeRawPointer($0).load(fromByteOffset: MemoryLayout<NodeHeader>.offset(of: \.right)!,
                                      as: Unmanaged<Node>?.self)
        }
    }
    @inline(__always) var leftSize: Int {
        withUnsafeMutablePointerToHeader {
            let l = UnsafeRawPointer($0).load(fromByteOffset: MemoryLayout<NodeHeader>.offset(of: \.left)!,
                                              as: Unmanaged<Node>?.self)
            return l?._withUnsafeGuaranteedRef { $0.size } ?? 0
        }
    }

    @inline(__always)
    func withName<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeMutablePointers { hp, ep in
            try body(UnsafeRawBufferPointer(start: ep, count: Int(hp.pointee.nameCount)))
        }
    }

    var nameArray: [UInt8] { withName { Array($0) } }

    static func make(name: UnsafeRawBufferPointer, prio: UInt32, left: Node?, right: Node?,
                     payload: Payload, rev: Int64) -> Node {
        let size = 1 &+ UInt32(truncatingIfNeeded: left?.size ?? 0) &+ UInt32(truncatingIfNeeded: right?.size ?? 0)
        let header = NodeHeader(left: left, right: right, payload: payload, rev: rev, size: size,
                                prio: prio, nameCount: UInt32(name.count))
        let buffer = Node.create(minimumCapacity: name.count) { _ in header }
        let node = unsafeDowncast(buffer, to: Node.self)
        if name.count > 0 {
            node.withUnsafeMutablePointerToElements {
                UnsafeMutableRawPointer($0).copyMemory(from: name.baseAddress!, byteCount: name.count)
            }
        }
        return node
    }

    /// A copy of this node (same name, priority, payload and children), for copy-on-write.
    func copy() -> Node {
        withName { Node.make(name: $0, prio: prio, left: left, right: right, payload: payload, rev: rev) }
    }

    // In-place changes, for `Treap` only, on a node it holds uniquely. A child or payload is
    // moved out (its field cleared) so the caller's reference is the only one.

    @inline(__always) func takeLeft() -> Node? {
        withUnsafeMutablePointerToHeader { h in
            let l = h.pointee.left
            h.pointee.left = nil
            return l
        }
    }
    @inline(__always) func takeRight() -> Node? {
        withUnsafeMutablePointerToHeader { h in
            let r = h.pointee.right
            h.pointee.right = nil
            return r
        }
    }
    @inline(__always) func setLeft(_ l: consuming Node?) { withUnsafeMutablePointerToHeader { $0.pointee.left = l } }
    @inline(__always) func setRight(_ r: consuming Node?) { withUnsafeMutablePointerToHeader { $0.pointee.right = r } }

    /// Moves the payload out, leaving an empty file in its place.
    @inline(__always) func takePayload() -> Payload {
        withUnsafeMutablePointerToHeader { h in
            let p = h.pointee.payload
            h.pointee.payload = .file([])
            return p
        }
    }
    @inline(__always) func setPayload(_ p: Payload, rev: Int64) {
        withUnsafeMutablePointerToHeader {
            $0.pointee.payload = p
            $0.pointee.rev = rev
        }
    }
    /// Releases the subtrees iteratively. Directories nest as deep as a client's paths do, and
    /// the default deinit would release them recursively, one stack frame per level: this moves
    /// the children of every node that dies with this one onto an explicit worklist instead,
    /// so no release ever recurses. The worklist lives on the thread's stack and spills to
    /// the heap only for deep trees; a leaf does none of this.
    deinit {
        let isLeaf = withUnsafeMutablePointerToHeader { h in
            guard h.pointee.left == nil, h.pointee.right == nil else { return false }
            if case .directory = h.pointee.payload { return false }
            return true
        }
        if isLeaf { return }
        withUnsafeTemporaryAllocation(of: Node.self, capacity: Node.worklistOnStack) { stack in
            var dying = Worklist(stack: stack)
            Node.detachChildren(of: self, into: &dying)
            while var node = dying.pop() {
                // Held only by `node`, just taken off the list: it dies at the end of this
                // iteration, so its children die with it. Shared nodes live on untouched.
                if isKnownUniquelyReferenced(&node) { Node.detachChildren(of: node, into: &dying) }
            }
        }
    }

    /// Nodes the worklist of `deinit` keeps on the stack before it spills to the heap.
    private static let worklistOnStack = 64

    /// The nodes `deinit` has yet to release: a stack buffer first, then a heap array.
    private struct Worklist {
        let stack: UnsafeMutableBufferPointer<Node>
        var onStack = 0
        var spilled: [Node] = []

        mutating func push(_ node: Node) {
            if onStack < stack.count {
                (stack.baseAddress! + onStack).initialize(to: node)
                onStack += 1
            } else {
                spilled.append(node)
            }
        }

        mutating func pop() -> Node? {
            if let node = spilled.popLast() { return node }
            guard onStack > 0 else { return nil }
            onStack -= 1
            return (stack.baseAddress! + onStack).move()
        }
    }

    @inline(__always)
    private static func detachChildren(of node: Node, into list: inout Worklist) {
        node.withUnsafeMutablePointerToHeader { h in
            if let l = h.pointee.left { list.push(l); h.pointee.left = nil }
            if let r = h.pointee.right { list.push(r); h.pointee.right = nil }
            if case .directory(let c) = h.pointee.payload {
                list.push(c)
                h.pointee.payload = .file([])
            }
        }
    }

    @inline(__always) func addToSize(_ delta: Int) {
        withUnsafeMutablePointerToHeader { $0.pointee.size &+= UInt32(bitPattern: Int32(truncatingIfNeeded: delta)) }
    }

    @inline(__always) func updateSize() {
        withUnsafeMutablePointerToHeader { h in
            let l = h.pointee.left?.size ?? 0
            let r = h.pointee.right?.size ?? 0
            h.pointee.size = UInt32(truncatingIfNeeded: 1 &+ l &+ r)
        }
    }
}

/// A directory entry while `Treap.modify` changes it: its payload (nil = absent) and file rev.
struct EntryChange {
    var payload: Payload?
    var rev: Int64

    /// Moves a directory's child treap out (nil for a file or a missing entry, left as is).
    @inline(__always)
    mutating func takeDirectory() -> Node? {
        guard case .directory(let c)? = payload else { return nil }
        payload = nil
        return c
    }
}

/// Treap operations. Reads never change anything; `modify` and `merge` change nodes in place
/// where they hold them uniquely and copy them otherwise (copy-on-write).
@usableFromInline
enum Treap {
    /// The entry named `name`, or nil. Never allocates; retains only the result.
    @inline(__always)
    static func find(_ root: Node?, _ name: UnsafeRawBufferPointer) -> Node? {
        guard let root else { return nil }
        var u = Unmanaged.passUnretained(root)
        while true {
            let (c, next) = u._withUnsafeGuaranteedRef { n -> (Int, Unmanaged<Node>?) in
                let c = n.withName { compareBytes(name, $0) }
                return (c, c < 0 ? n.leftRef : (c > 0 ? n.rightRef : nil))
            }
            if c == 0 { return u.takeUnretainedValue() }
            guard let nx = next else { return nil }
            u = nx
        }
    }

    /// The entry at 0-based position `k` in bytewise name order, nil unless 0 ≤ k < size.
    static func select(_ root: Node?, _ k: Int) -> Node? {
        guard let root, k >= 0 else { return nil }
        var u = Unmanaged.passUnretained(root)
        var k = k
        while true {
            let (found, next) = u._withUnsafeGuaranteedRef { n -> (Bool, Unmanaged<Node>?) in
                let ls = n.leftSize
                if k < ls { return (false, n.leftRef) }
                if k == ls { return (true, nil) }
                k -= ls + 1
                return (false, n.rightRef)
            }
            if found { return u.takeUnretainedValue() }
            guard let nx = next else { return nil }
            u = nx
        }
    }

    /// A node the caller may change: `t` itself if nothing else refers to it, else its copy.
    @inline(__always)
    static func unique(_ t: inout Node) {
        if !isKnownUniquelyReferenced(&t) { t = t.copy() }
    }

    /// Finds the entry `name` in the treap at `slot` — creating it when missing (`change`
    /// then sees a nil payload) and copying shared nodes on the way — and lets `change`
    /// update its payload and rev. A nil payload afterwards removes the entry. `prio` is the
    /// name's priority, computed only if the entry is created.
    ///
    /// Returns the entry, unless removed: held by this treap alone but for the returned
    /// reference, so the caller may go on changing its payload in place (`Tree` descends
    /// into a directory that way). Recurses once per treap level: O(log n), and not up to
    /// the client, since priorities are a keyed hash of the names.
    ///
    /// Subtree sizes change by the one entry created or removed, so an update in place reads
    /// only the nodes on the path to the entry. The siblings along the path (cold in the
    /// cache: a lookup never visits them) are read only where a new entry rotates up, a node
    /// shared with a snapshot is copied, or a removal merges the entry's children.
    @discardableResult
    static func modify(_ slot: inout Node?, _ name: UnsafeRawBufferPointer, prio: @autoclosure () -> UInt32,
                       _ change: (inout EntryChange) -> Void) -> Node? {
        var grew = 0
        return modify(&slot, name, prio: prio(), change, grew: &grew)
    }

    /// `modify`, telling how many entries the treap gained: 1, 0 or −1.
    private static func modify(_ slot: inout Node?, _ name: UnsafeRawBufferPointer, prio: @autoclosure () -> UInt32,
                               _ change: (inout EntryChange) -> Void, grew: inout Int) -> Node? {
        guard var t = slot.take() else {
            var e = EntryChange(payload: nil, rev: 0)
            change(&e)
            guard let p = e.payload else { return nil }
            let fresh = Node.make(name: name, prio: prio(), left: nil, right: nil, payload: p, rev: e.rev)
            grew = 1
            slot = fresh
            return fresh
        }
        unique(&t)
        let c = t.withName { compareBytes(name, $0) }
        if c == 0 {
            var e = EntryChange(payload: t.takePayload(), rev: t.rev)
            change(&e)
            if let p = e.payload {
                t.setPayload(p, rev: e.rev)
                slot = t
                return t
            }
            grew = -1
            slot = merge(t.takeLeft(), t.takeRight())
            return nil
        }
        let entry: Node?
        if c < 0 {
            var l = t.takeLeft()
            entry = modify(&l, name, prio: prio(), change, grew: &grew)
            if grew > 0, let risen = l, risen.prio > t.prio {  // a new entry outranks t: rotate right
                t.setLeft(risen.takeRight())
                t.updateSize()
                risen.setRight(t)
                risen.updateSize()
                slot = risen
                return entry
            }
            t.setLeft(l.take())
        } else {
            var r = t.takeRight()
            entry = modify(&r, name, prio: prio(), change, grew: &grew)
            if grew > 0, let risen = r, risen.prio > t.prio {  // rotate left
                t.setRight(risen.takeLeft())
                t.updateSize()
                risen.setLeft(t)
                risen.updateSize()
                slot = risen
                return entry
            }
            t.setRight(r.take())
        }
        if grew != 0 { t.addToSize(grew) }
        slot = t
        return entry
    }

    /// Joins two treaps where every name in `a` sorts before every name in `b`.
    static func merge(_ a: consuming Node?, _ b: consuming Node?) -> Node? {
        guard var x = consume a else { return b }
        guard var y = consume b else { return x }
        if x.prio > y.prio {
            unique(&x)
            x.setRight(merge(x.takeRight(), y))
            x.updateSize()
            return x
        }
        unique(&y)
        y.setLeft(merge(x, y.takeLeft()))
        y.updateSize()
        return y
    }
}
