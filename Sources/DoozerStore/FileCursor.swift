/// The files of a snapshot, one at a time, in enumeration order: depth-first with every
/// directory's entries in bytewise name order (§3.9), the order of WALK and `forEachFile`.
///
/// Owns an explicit stack — the treap nodes due next, at most one per treap level on the way
/// down to the current file — and the current file's path; it never materialises the files
/// and never changes the tree. It holds the nodes it visits, so the snapshot it came from may
/// be dropped while it runs.
public struct FileCursor: IteratorProtocol, Sequence {
    /// Nodes whose left subtree is done, the next one last, each with the length of its
    /// directory's path (the prefix of `path` its own path extends).
    private var stack: [(node: Node, directoryEnd: Int)] = []
    private var path: [UInt8]

    /// The files below the directory treap `directory`, whose path is `prefix` (empty for `/`).
    init(directory: Node?, prefix: [UInt8]) {
        path = prefix
        pushLeftSpine(directory, directoryEnd: prefix.count)
    }

    /// The next file (its path, body and rev), or nil after the last.
    public mutating func next() -> Snapshot.WalkHit? {
        while let (node, end) = stack.popLast() {
            pushLeftSpine(node.right, directoryEnd: end)
            path.removeLast(path.count - end)
            path.append(slash)
            node.withName { path.append(contentsOf: $0) }
            switch node.payload {
            case .file(let body): return Snapshot.WalkHit(path: path, body: body, rev: node.rev)
            case .directory(let children): pushLeftSpine(children, directoryEnd: path.count)
            }
        }
        return nil
    }

    private mutating func pushLeftSpine(_ treap: Node?, directoryEnd: Int) {
        var t = treap
        while let n = t {
            stack.append((n, directoryEnd))
            t = n.left
        }
    }

    /// Whether a file at `a` comes strictly before a file at `b` in this order. Paths compare
    /// component by component, bytewise — that is, bytewise with `/` ranked below every other
    /// byte (`/a/b` precedes `/a-b` though `-` < `/`). Both must be valid file paths.
    public static func precedes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        let n = Swift.min(a.count, b.count)
        var i = 0
        while i < n {
            let x = a[i], y = b[i]
            if x != y { return (x == slash ? 0 : x) < (y == slash ? 0 : y) }
            i &+= 1
        }
        return a.count < b.count
    }
}

extension Snapshot {
    /// Every file of the tree, in enumeration order.
    public func fileCursor() -> FileCursor {
        FileCursor(directory: root, prefix: [])
    }
}
