// Path-level operations over the directory treaps. Paths are `/`-separated byte strings; the
// root directory is represented by the root treap itself (nil = empty root).

@usableFromInline
enum Tree {
    @usableFromInline
    enum Found {
        case root
        case node(Node)
        case missing
    }

    /// Resolves `path`. Tolerates invalid input (empty, no leading `/`, empty components):
    /// such paths are simply missing. Never allocates.
    @inline(__always)
    static func find(_ root: Node?, _ path: UnsafeRawBufferPointer) -> Found {
        let n = path.count
        if n == 0 || path[0] != slash { return .missing }
        if n == 1 { return .root }
        var dir = root
        var i = 1
        while true {
            let j = nextSlash(path, from: i)
            if j == i { return .missing }
            guard let e = Treap.find(dir, UnsafeRawBufferPointer(rebasing: path[i..<j])) else { return .missing }
            if j == n { return .node(e) }
            guard case .directory(let c) = e.payload else { return .missing }
            dir = c
            i = j + 1
            if i == n { return .missing }  // trailing slash
        }
    }

    /// The condition rev of §3.5 step 4: file rev, 0 when missing, −2 for a directory.
    static func currentRev(_ root: Node?, _ path: UnsafeRawBufferPointer) -> Int64 {
        switch find(root, path) {
        case .root: return -2
        case .missing: return 0
        case .node(let e):
            if case .file = e.payload { return e.rev }
            return -2
        }
    }

    /// §3.5 step 3: is some existing ancestor of the (valid) path a file?
    static func ancestorIsFile(_ root: Node?, _ path: UnsafeRawBufferPointer) -> Bool {
        let n = path.count
        var dir = root
        var i = 1
        while i < n {
            let j = nextSlash(path, from: i)
            if j == n { return false }  // last component is the target itself
            guard let e = Treap.find(dir, UnsafeRawBufferPointer(rebasing: path[i..<j])) else { return false }
            guard case .directory(let c) = e.payload else { return true }
            dir = c
            i = j + 1
        }
        return false
    }

    /// Writes a file at the (valid, non-root) path, creating missing directories. Whatever is
    /// in the way is replaced (a file ancestor becomes a directory, a directory target becomes
    /// the file): callers check first, except for the forced `/ctl/err` write.
    static func set(_ dir: Node?, _ path: UnsafeRawBufferPointer, from i: Int, body: [UInt8], rev: Int64) -> Node {
        let j = nextSlash(path, from: i)
        let name = UnsafeRawBufferPointer(rebasing: path[i..<j])
        let prio = namePriority(name)
        if j == path.count {
            return Treap.upsert(dir, name, prio: prio, .file(body), rev: rev)
        }
        var child: Node? = nil
        if let e = Treap.find(dir, name), case .directory(let c) = e.payload { child = c }
        let newChild = set(child, path, from: j + 1, body: body, rev: rev)
        return Treap.upsert(dir, name, prio: prio, .directory(newChild), rev: 0)
    }

    /// Removes the file at `path` (which must exist) and prunes directories left empty.
    /// Returns the new directory treap, nil if it became empty.
    static func delete(_ dir: Node?, _ path: UnsafeRawBufferPointer, from i: Int) -> Node? {
        let j = nextSlash(path, from: i)
        let name = UnsafeRawBufferPointer(rebasing: path[i..<j])
        if j == path.count {
            return Treap.remove(dir, name)
        }
        guard let e = Treap.find(dir, name), case .directory(let c) = e.payload else { return dir }
        guard let newChild = delete(c, path, from: j + 1) else {
            return Treap.remove(dir, name)
        }
        return Treap.upsert(dir, name, prio: e.prio, .directory(newChild), rev: 0)
    }
}
