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
    /// the file): callers check first, except for the forced `/ctl/err` write. Returns what
    /// undoes it.
    @discardableResult
    static func set(_ root: inout Node?, _ path: UnsafeRawBufferPointer, body: [UInt8], rev: Int64) -> Undo {
        var undo: Undo? = nil
        set(&root, path, from: 1, body: body, rev: rev, undo: &undo)
        return undo!
    }

    private static func set(_ dir: inout Node?, _ path: UnsafeRawBufferPointer, from i: Int, body: [UInt8],
                            rev: Int64, undo: inout Undo?) {
        let j = nextSlash(path, from: i)
        let name = UnsafeRawBufferPointer(rebasing: path[i..<j])
        Treap.modify(&dir, name, prio: namePriority(name)) { e in
            if j == path.count {
                if undo == nil { undo = Undo(end: j, previous: e.payload, rev: e.rev) }
                e.payload = .file(body)
                e.rev = rev
                return
            }
            var child = e.takeDirectory()
            // Missing, or a file in the way: everything below is new, so undoing means putting
            // back what was here.
            if child == nil && undo == nil { undo = Undo(end: j, previous: e.payload, rev: e.rev) }
            set(&child, path, from: j + 1, body: body, rev: rev, undo: &undo)
            e.payload = .directory(child!)
            e.rev = 0
        }
    }

    /// Removes the file at `path` (which must exist) and prunes directories left empty.
    static func delete(_ dir: inout Node?, _ path: UnsafeRawBufferPointer, from i: Int) {
        let j = nextSlash(path, from: i)
        let name = UnsafeRawBufferPointer(rebasing: path[i..<j])
        Treap.modify(&dir, name, prio: namePriority(name)) { e in
            if j == path.count {
                e.payload = nil
                return
            }
            var child = e.takeDirectory()
            delete(&child, path, from: j + 1)
            e.payload = child.map { .directory($0) }   // nil: left empty, pruned
        }
    }

    /// Puts back what one write replaced: the entry at `path[..<undo.end]` becomes
    /// `undo.previous` again (nil: removed), recreating directories above it as needed.
    static func restore(_ root: inout Node?, _ path: UnsafeRawBufferPointer, _ undo: Undo) {
        restore(&root, path, from: 1, undo)
    }

    private static func restore(_ dir: inout Node?, _ path: UnsafeRawBufferPointer, from i: Int, _ undo: Undo) {
        let j = nextSlash(path, from: i)
        let name = UnsafeRawBufferPointer(rebasing: path[i..<j])
        Treap.modify(&dir, name, prio: namePriority(name)) { e in
            if j == undo.end {
                e.payload = undo.previous
                e.rev = undo.rev
                return
            }
            var child = e.takeDirectory()
            restore(&child, path, from: j + 1, undo)
            e.payload = child.map { .directory($0) }
        }
    }
}

/// What undoes one write, applied to the tree right after it: the entry at the first `end`
/// bytes of the event's path becomes `previous` again (nil: it did not exist). Everything the
/// write created lies at or below that entry.
struct Undo {
    let end: Int
    let previous: Payload?
    let rev: Int64
}
