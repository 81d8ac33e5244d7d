import DoozerWire
import Foundation

/// One change of the store as WAIT or WALK reports it (spec §2.7). A plain value.
public struct DoozerEvent: Equatable, Sendable {
    /// The revision (seqn) of the event; for WALK, the file's rev.
    public var rev: Int64
    /// The full path changed (`/` for a no-op).
    public var path: String
    /// The body written (empty for deletes and no-ops).
    public var body: [UInt8]
    /// 4 set, 8 del, 0 no-op.
    public var flags: Int32

    public init(rev: Int64, path: String, body: [UInt8], flags: Int32) {
        self.rev = rev
        self.path = path
        self.body = body
        self.flags = flags
    }

    /// The event set (created or changed) a file.
    public var isSet: Bool { flags & EventFlags.set != 0 }
    /// The event deleted a file.
    public var isDel: Bool { flags & EventFlags.del != 0 }
}

/// What STAT says about one path at one rev (spec §10.2 `Statinfo`). A plain value.
public struct FileInfo: Equatable, Sendable {
    /// The last path component (empty for `/`).
    public var name: String
    /// Body length for a file, number of entries for a directory.
    public var len: Int32
    /// File rev; -2 for a directory.
    public var rev: Int64
    /// `rev == -2`.
    public var isDir: Bool
    /// True when STAT succeeded; an entry of `getdirinfo` whose STAT failed has only its name.
    public var isSet: Bool

    public init(name: String, len: Int32 = 0, rev: Int64 = 0, isDir: Bool = false, isSet: Bool = false) {
        self.name = name
        self.len = len
        self.rev = rev
        self.isDir = isDir
        self.isSet = isSet
    }
}

/// Request tags for one connection (spec §10.1): a counter from 0 that skips tags still in
/// use, wrapping from `Int32.max` back to 0. Pure value; the connection guards it with its lock.
struct TagAllocator {
    private(set) var counter: Int32

    init(counter: Int32 = 0) { self.counter = counter }

    /// The next tag for which `inUse` is false; advances the counter past it.
    mutating func next(inUse: (Int32) -> Bool) -> Int32 {
        while inUse(counter) { advance() }
        let tag = counter
        advance()
        return tag
    }

    private mutating func advance() {
        counter = counter == .max ? 0 : counter + 1
    }
}

/// A value guarded by an NSLock (works on every platform the package names).
final class LockedState<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
