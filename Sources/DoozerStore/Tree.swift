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
        update(&root, path, end: path.count, replacing: { end, previous, previousRev in
            // Missing, or a file in the way: everything below is new, so undoing means putting
            // back what was here.
            if undo == nil { undo = Undo(end: end, previous: previous, rev: previousRev) }
        }) { e in
            if undo == nil { undo = Undo(end: path.count, previous: e.payload, rev: e.rev) }
            e.payload = .file(body)
            e.rev = rev
        }
        return undo!
    }

    /// Removes the file at `path` (which must exist) and prunes directories left empty.
    static func delete(_ root: inout Node?, _ path: UnsafeRawBufferPointer) {
        update(&root, path, end: path.count, replacing: { _, _, _ in }) { $0.payload = nil }
    }

    /// Puts back what one write replaced: the entry at `path[..<undo.end]` becomes
    /// `undo.previous` again (nil: removed), recreating directories above it as needed.
    static func restore(_ root: inout Node?, _ path: UnsafeRawBufferPointer, _ undo: Undo) {
        update(&root, path, end: undo.end, replacing: { _, _, _ in }) { e in
            e.payload = undo.previous
            e.rev = undo.rev
        }
    }

    /// A directory entry on the way down whose child treap `update` holds meanwhile.
    private struct Level {
        /// The treap the entry is in (taken out of the entry one level up, or the root).
        var treap: Node?
        /// The entry; its payload is a placeholder until its child treap goes back in.
        var entry: Node?
        /// Where the entry's name lies in the path.
        var name: Range<Int>
    }

    /// Lets `change` update the entry at `path[..<end]` (`end` ends a component), creating
    /// the directories above it when missing or when a file is in the way — `replacing` is
    /// told of each such entry (its end, payload or nil, and rev) before it becomes a
    /// directory — and pruning directories left empty.
    ///
    /// Iterative, with an explicit stack: a path's depth is the client's to choose, so
    /// recursing once per component would let one request overflow the thread's stack. On
    /// the way down every directory's child treap is moved out of its entry, so the treap
    /// written next is held only here and changes in place (copy-on-write copies only what
    /// a snapshot shares); on the way up each goes back into its entry. The stack is a
    /// temporary allocation: on the thread's stack for ordinary depths, so a write allocates
    /// nothing for it.
    private static func update(_ root: inout Node?, _ path: UnsafeRawBufferPointer, end: Int,
                               replacing: (_ end: Int, _ previous: Payload?, _ rev: Int64) -> Void,
                               _ change: (inout EntryChange) -> Void) {
        var depth = 0   // directories above the entry
        for k in 1..<end where path[k] == slash { depth &+= 1 }
        withUnsafeTemporaryAllocation(of: Level.self, capacity: depth) { levels in
            var count = 0
            var dir = root
            root = nil
            var i = 1
            var j = nextSlash(path, from: i)
            while j < end {
                let name = UnsafeRawBufferPointer(rebasing: path[i..<j])
                var child: Node? = nil
                let entry = Treap.modify(&dir, name, prio: namePriority(name)) { e in
                    child = e.takeDirectory()
                    if child == nil { replacing(j, e.payload, e.rev) }
                    e.payload = .file([])   // placeholder, never seen: replaced on the way up
                    e.rev = 0
                }
                (levels.baseAddress! + count).initialize(to: Level(treap: dir, entry: entry, name: i..<j))
                count += 1
                dir = child
                i = j + 1
                j = nextSlash(path, from: i)
            }
            let name = UnsafeRawBufferPointer(rebasing: path[i..<j])
            Treap.modify(&dir, name, prio: namePriority(name), change)
            while count > 0 {
                count -= 1
                var level = (levels.baseAddress! + count).move()
                if let below = dir {
                    level.entry!.setPayload(.directory(below), rev: 0)
                } else {
                    level.entry = nil   // so the entry is the treap's alone, and removed in place
                    let name = UnsafeRawBufferPointer(rebasing: path[level.name])
                    Treap.modify(&level.treap, name, prio: namePriority(name)) { $0.payload = nil }
                }
                dir = level.treap
            }
            root = dir
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
