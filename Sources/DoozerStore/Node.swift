// The persistent tree: every directory's children form a treap keyed by name bytes whose
// priorities are a keyed hash of the name (within one process the shape depends only on the
// set of names), with subtree sizes for order statistics. A treap node *is* the directory
// entry: it carries the entry's name (tail-allocated, no separate array), and either a file
// (body + rev) or a directory (the root of the child treap). Nodes are never mutated once
// built; every update copies the O(log n) nodes on its search path, so any old root is a
// frozen snapshot.

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
/// Immutable after construction, hence safe to share between threads (ManagedBuffer is
/// marked non-Sendable, so `Snapshot` vouches for it with `@unchecked Sendable`).
@usableFromInline
final class Node: ManagedBuffer<NodeHeader, UInt8> {
    // Reads go through the header pointer: the node is immutable, so the dynamic exclusivity
    // check that `self.header` would cost on every access buys nothing.
    @inline(__always) var left: Node? { withUnsafeMutablePointerToHeader { $0.pointee.left } }
    @inline(__always) var right: Node? { withUnsafeMutablePointerToHeader { $0.pointee.right } }
    @inline(__always) var payload: Payload { withUnsafeMutablePointerToHeader { $0.pointee.payload } }
    @inline(__always) var rev: Int64 { withUnsafeMutablePointerToHeader { $0.pointee.rev } }
    @inline(__always) var size: Int { withUnsafeMutablePointerToHeader { Int($0.pointee.size) } }
    @inline(__always) var prio: UInt32 { withUnsafeMutablePointerToHeader { $0.pointee.prio } }

    // Unretained child references for read-only descents. Invariant: whoever starts a descent
    // holds the root strongly, and nodes never change, so every node below it stays alive for
    // the whole descent. This saves an atomic retain/release pair per level of a descent.
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

    /// A copy of this node with other children (same name, priority and payload).
    @inline(__always)
    func with(left: Node?, right: Node?) -> Node {
        withName { Node.make(name: $0, prio: prio, left: left, right: right, payload: payload, rev: rev) }
    }
}

/// Persistent treap operations. All functions return new roots and leave their inputs intact.
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

    /// Inserts or replaces the entry `name`.
    static func upsert(_ root: Node?, _ name: UnsafeRawBufferPointer, prio: UInt32, _ payload: Payload,
                       rev: Int64) -> Node {
        guard let t = root else {
            return Node.make(name: name, prio: prio, left: nil, right: nil, payload: payload, rev: rev)
        }
        let c = t.withName { compareBytes(name, $0) }
        if c == 0 {
            return Node.make(name: name, prio: t.prio, left: t.left, right: t.right, payload: payload, rev: rev)
        }
        if c < 0 {
            let l = upsert(t.left, name, prio: prio, payload, rev: rev)
            if l.prio > t.prio {  // rotate right
                return l.with(left: l.left, right: t.with(left: l.right, right: t.right))
            }
            return t.with(left: l, right: t.right)
        } else {
            let r = upsert(t.right, name, prio: prio, payload, rev: rev)
            if r.prio > t.prio {  // rotate left
                return r.with(left: t.with(left: t.left, right: r.left), right: r.right)
            }
            return t.with(left: t.left, right: r)
        }
    }

    /// Removes the entry `name` (unchanged root if absent).
    static func remove(_ root: Node?, _ name: UnsafeRawBufferPointer) -> Node? {
        guard let t = root else { return nil }
        let c = t.withName { compareBytes(name, $0) }
        if c == 0 { return merge(t.left, t.right) }
        if c < 0 {
            let l = remove(t.left, name)
            return l === t.left ? t : t.with(left: l, right: t.right)
        } else {
            let r = remove(t.right, name)
            return r === t.right ? t : t.with(left: t.left, right: r)
        }
    }

    /// Joins two treaps where every name in `a` sorts before every name in `b`.
    static func merge(_ a: Node?, _ b: Node?) -> Node? {
        guard let a else { return b }
        guard let b else { return a }
        if a.prio > b.prio {
            return a.with(left: a.left, right: merge(a.right, b))
        }
        return b.with(left: merge(a, b.left), right: b.right)
    }
}
