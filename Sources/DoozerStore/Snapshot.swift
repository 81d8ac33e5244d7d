/// An immutable view of the tree right after seqn `rev` (§3.11). Copying is O(1) (one
/// reference); later writes to the store never change it. Owns nothing mutable and never
/// blocks: the caller decides which snapshot answers a request.
/// `@unchecked Sendable`: the only reference it holds is to tree nodes, which are changed only
/// while nothing else refers to them (copy-on-write), so none that a snapshot reaches changes.
public struct Snapshot: @unchecked Sendable {
    public let rev: Int64
    @usableFromInline let root: Node?

    @usableFromInline
    init(rev: Int64, root: Node?) {
        self.rev = rev
        self.root = root
    }

    /// An empty tree (just `/`) labelled `rev`; fill it with `insertFile` to install a clone.
    public init(emptyAt rev: Int64) {
        self.init(rev: rev, root: nil)
    }

    public enum Entry: Equatable, Sendable {
        case missing
        case file(body: [UInt8], rev: Int64)
        /// `count` = number of entries (GETDIR/STAT length); `/` is always a directory.
        case directory(count: Int)
    }

    /// Resolves a path (the caller validates it; invalid input reads as missing). Never
    /// allocates: a file's body is returned by reference.
    public func lookup(_ path: UnsafeRawBufferPointer) -> Entry {
        switch Tree.find(root, path) {
        case .root: return .directory(count: root?.size ?? 0)
        case .missing: return .missing
        case .node(let e):
            switch e.payload {
            case .file(let body): return .file(body: body, rev: e.rev)
            case .directory(let c): return .directory(count: c.size)
            }
        }
    }

    public func lookup(_ path: String) -> Entry { path.withBytes { lookup($0) } }
    public func lookup(_ path: [UInt8]) -> Entry { path.withUnsafeBytes { lookup($0) } }

    /// Number of files and directories below `/` (the root's GETDIR length).
    public var rootCount: Int { root?.size ?? 0 }

    public enum DirEntry: Equatable, Sendable {
        case noEnt, notDir, range
        case name([UInt8])
    }

    /// GETDIR: the name at `offset` among the directory's entries in bytewise order.
    /// O(log n) in the directory size.
    public func entry(ofDirectory path: UnsafeRawBufferPointer, at offset: Int) -> DirEntry {
        let dir: Node?
        switch Tree.find(root, path) {
        case .missing: return .noEnt
        case .root: dir = root
        case .node(let e):
            guard case .directory(let c) = e.payload else { return .notDir }
            dir = c
        }
        guard offset >= 0, offset < (dir?.size ?? 0), let n = Treap.select(dir, offset) else { return .range }
        return .name(n.nameArray)
    }

    public func entry(ofDirectory path: String, at offset: Int) -> DirEntry {
        path.withBytes { entry(ofDirectory: $0, at: offset) }
    }

    public struct WalkHit: Equatable, Sendable {
        public let path: [UInt8]
        public let body: [UInt8]
        public let rev: Int64
        public init(path: [UInt8], body: [UInt8], rev: Int64) {
            self.path = path
            self.body = body
            self.rev = rev
        }
    }

    /// WALK: the `offset`-th file (0-based) matching `glob`, enumerating files depth-first with
    /// every directory in bytewise order; nil means RANGE. Only subtrees compatible with the
    /// glob's literal prefix (and, without `**`, its depth) are visited.
    public func walk(_ glob: Glob, offset: Int) -> WalkHit? {
        if offset < 0 { return nil }
        if glob.kind == .literal {
            // No wildcard: at most one file can match.
            guard offset == 0 else { return nil }
            let r: WalkHit? = glob.pattern.withUnsafeBytes { p in
                guard case .node(let e) = Tree.find(root, p), case .file(let body) = e.payload else { return nil }
                return WalkHit(path: glob.pattern, body: body, rev: e.rev)
            }
            return r
        }
        var w = Walker(glob: glob, remaining: offset)
        return w.run(root)
    }

    /// Calls `body` for every file at or below `path` (a file path yields just that file),
    /// depth-first in bytewise order. For exports and the web view, not the hot path.
    public func forEachFile(under path: UnsafeRawBufferPointer,
                            _ body: (_ path: [UInt8], _ body: [UInt8], _ rev: Int64) -> Void) {
        let files: FileCursor
        switch Tree.find(root, path) {
        case .missing: return
        case .root: files = fileCursor()
        case .node(let e):
            switch e.payload {
            case .file(let b): return body(Array(path), b, e.rev)
            case .directory(let c): files = FileCursor(directory: c, prefix: Array(path))
            }
        }
        for f in files { body(f.path, f.body, f.rev) }
    }

    public func forEachFile(under path: String, _ body: (_ path: [UInt8], _ body: [UInt8], _ rev: Int64) -> Void) {
        path.withBytes { forEachFile(under: $0, body) }
    }

    /// Writes a file into this snapshot value (for installing a cloned tree, B8). Returns false
    /// (and changes nothing) if the path is invalid or `/`, an ancestor is a file, or the path
    /// is a directory. Other snapshot values are unaffected.
    @discardableResult
    public mutating func insertFile(_ path: UnsafeRawBufferPointer, body: [UInt8], rev: Int64) -> Bool {
        guard PathSyntax.isValid(path), path.count > 1, !Tree.ancestorIsFile(root, path) else { return false }
        if case .node(let e) = Tree.find(root, path), case .directory = e.payload { return false }
        var tree = root
        self = Snapshot(rev: self.rev, root: nil)   // so `tree` is the only holder: no copies
        Tree.set(&tree, path, body: body, rev: rev)
        self = Snapshot(rev: self.rev, root: tree)
        return true
    }

    @discardableResult
    public mutating func insertFile(_ path: String, body: [UInt8], rev: Int64) -> Bool {
        path.withBytes { insertFile($0, body: body, rev: rev) }
    }

    @discardableResult
    public mutating func insertFile(_ path: [UInt8], body: [UInt8], rev: Int64) -> Bool {
        path.withUnsafeBytes { insertFile($0, body: body, rev: rev) }
    }
}

/// Depth-first WALK enumeration with pruning by the glob's literal prefix and depth.
///
/// Iterative, with an explicit stack like `FileCursor`: directories nest as deep as a client's
/// paths do, so recursing per level could overflow the thread's stack.
struct Walker {
    /// A treap node due for a visit, with the directory it belongs to.
    private struct Due {
        let node: Node
        /// Depth of the node's entries (1 for `/`'s).
        let depth: Int
        /// Length of the directory's path in `buf`.
        let directoryEnd: Int
        /// The prefix bytes its directory's names must start with: `prefix[lo..<hi]`
        /// (all names when lo == hi).
        let lo: Int
        let hi: Int
        /// Whether the node's right subtree follows it (in-order); false for the one entry a
        /// literal prefix component names.
        let inOrder: Bool
    }

    let glob: Glob
    var remaining: Int
    private var buf: [UInt8] = []
    private var due: [Due] = []
    let prefix: [UInt8]
    let deep: Bool

    init(glob: Glob, remaining: Int) {
        self.glob = glob
        self.remaining = remaining
        self.prefix = Array(glob.literalPrefix)
        self.deep = glob.hasDoubleStar
        buf.reserveCapacity(128)
    }

    /// The `remaining`-th matching file below the root treap `root`, or nil.
    mutating func run(_ root: Node?) -> Snapshot.WalkHit? {
        enter(root, depth: 1, directoryEnd: 0)
        while let d = due.popLast() {
            if d.inOrder { pushLeft(d.node.right, d.depth, d.directoryEnd, lo: d.lo, hi: d.hi) }
            buf.removeLast(buf.count - d.directoryEnd)
            buf.append(slash)
            d.node.withName { buf.append(contentsOf: $0) }
            switch d.node.payload {
            case .file(let body):
                guard deep || d.depth == glob.slashCount else { continue }
                guard buf.withUnsafeBytes({ glob.matches($0) }) else { continue }
                if remaining == 0 { return Snapshot.WalkHit(path: buf, body: body, rev: d.node.rev) }
                remaining -= 1
            case .directory(let c):
                if deep || d.depth < glob.slashCount { enter(c, depth: d.depth + 1, directoryEnd: buf.count) }
            }
        }
        return nil
    }

    /// Schedules the entries of a directory whose path is `buf[..<directoryEnd]` and whose
    /// entries sit at `depth`.
    private mutating func enter(_ t: Node?, depth: Int, directoryEnd: Int) {
        let start = directoryEnd + 1  // where a child's name begins in a full path
        if prefix.count <= start {
            return pushLeft(t, depth, directoryEnd, lo: 0, hi: 0)
        }
        // The prefix constrains this directory's names.
        var j = start
        while j < prefix.count && prefix[j] != slash { j += 1 }
        if j < prefix.count {
            // The prefix continues below this entry: exactly one name can lead to matches.
            let found = prefix.withUnsafeBytes { Treap.find(t, UnsafeRawBufferPointer(rebasing: $0[start..<j])) }
            if let e = found {
                due.append(Due(node: e, depth: depth, directoryEnd: directoryEnd, lo: 0, hi: 0, inOrder: false))
            }
            return
        }
        pushLeft(t, depth, directoryEnd, lo: start, hi: prefix.count)
    }

    /// Schedules, in-order, the left spine of `t` among the names starting with
    /// `prefix[lo..<hi]`, skipping subtrees that cannot hold such names.
    private mutating func pushLeft(_ t: Node?, _ depth: Int, _ directoryEnd: Int, lo: Int, hi: Int) {
        var t = t
        while let n = t {
            var c = 0
            if lo < hi {
                c = prefix.withUnsafeBytes { p in
                    n.withName { compareToPrefix($0, UnsafeRawBufferPointer(rebasing: p[lo..<hi])) }
                }
            }
            if c < 0 {
                t = n.right
            } else if c > 0 {
                t = n.left
            } else {
                due.append(Due(node: n, depth: depth, directoryEnd: directoryEnd, lo: lo, hi: hi, inOrder: true))
                t = n.left
            }
        }
    }
}
