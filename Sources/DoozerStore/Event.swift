/// What an applied seqn did to the tree (§3.7). A failed mutation is a `.set` of `/ctl/err`.
public enum EventKind: Sendable, Equatable {
    case set, delete, nop
}

/// The record of one applied seqn (§3.5 step 8). Immutable; owns copies of its byte strings
/// (the set body is shared with the tree). It never refers back to the store.
public struct Event: Sendable, Equatable {
    public let seqn: Int64
    /// The file written or deleted; `/` for a no-op; `/ctl/err` for a failed mutation.
    public let path: [UInt8]
    /// The body written; empty for deletes and no-ops; the error text for failures.
    public let body: [UInt8]
    public let kind: EventKind
    /// `seqn` for sets and failures, 0 for deletes, −3 for no-ops (§3.5).
    public let rev: Int64
    public let error: MutationError?
    /// The original mutation bytes, even when it failed and became a `/ctl/err` write.
    public let mutation: [UInt8]

    public init(seqn: Int64, path: [UInt8], body: [UInt8], kind: EventKind, rev: Int64,
                error: MutationError?, mutation: [UInt8]) {
        self.seqn = seqn
        self.path = path
        self.body = body
        self.kind = kind
        self.rev = rev
        self.error = error
        self.mutation = mutation
    }

    /// Wire flags for WAIT: 4 set (including failures), 8 delete, 0 no-op.
    public var flags: Int32 {
        switch kind {
        case .set: return 4
        case .delete: return 8
        case .nop: return 0
        }
    }
}

extension Event {
    static let rootPath: [UInt8] = [slash]
    static let errPath: [UInt8] = Array("/ctl/err".utf8)
}
