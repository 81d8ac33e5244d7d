/// What a doozer test records: one client operation on one path (`ClientOp`), a file body
/// (`Body`), a file version (`Version`) and a node's files at the end (`StoreView`), and how
/// each reads in a report.

/// A file body: bytes, written as a string literal in tests.
public struct Body: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(_ text: String) { bytes = Array(text.utf8) }
    public init(stringLiteral value: String) { self.init(value) }

    public static let empty = Body([])

    /// Quoted when printable ASCII, else hex.
    public var description: String {
        if bytes.allSatisfy({ (0x20..<0x7F).contains($0) && $0 != 0x22 }) {
            return "\"" + String(decoding: bytes, as: UTF8.self) + "\""
        }
        return "0x" + bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}

/// A file's body and rev (the global revision of the write that last set it).
public struct Version: Hashable, Sendable, CustomStringConvertible {
    public var body: Body
    public var rev: Int64

    public init(_ body: Body, rev: Int64) {
        self.body = body
        self.rev = rev
    }

    /// `"body"@rev`, or `missing`.
    public var description: String { rev == 0 && body.bytes.isEmpty ? "missing" : "\(body)@\(rev)" }
}

/// One node's files once the cluster has healed (a WALK of everything, say): paths not listed
/// are missing there.
public struct StoreView: Sendable {
    public var name: String
    public var files: [String: Version]

    public init(name: String, files: [String: Version]) {
        self.name = name
        self.files = files
    }
}

/// One client operation on one path, as recorded: the connection (`session`; a reconnection
/// is a new session), when it was invoked and how it ended. Times are any one monotonic clock
/// (simulated or real nanoseconds); the checks compare them only with each other.
///
/// Writes are expected to carry unique bodies per path: the checks that tell which write a read
/// observed go by body.
public struct ClientOp: Hashable, Sendable, CustomStringConvertible {
    public var session: Int
    public var path: String
    public var request: Request
    public var invoked: Int64
    public var outcome: Outcome<Reply>
    /// The store revision the answer was read at, when the recorder knows it (the simulation
    /// knows the node's applied revision): a GET with one is also checked as a read at that
    /// revision, and store revisions must not go backwards on one session.
    public var storeRev: Int64?

    public init(session: Int, path: String, _ request: Request, invoked: Int64,
                outcome: Outcome<Reply>, storeRev: Int64? = nil) {
        self.session = session
        self.path = path
        self.request = request
        self.invoked = invoked
        self.outcome = outcome
        self.storeRev = storeRev
    }

    public enum Request: Hashable, Sendable {
        /// GET; with a revision, a snapshot read as of right after that revision.
        case get(at: Int64? = nil)
        /// SET with its condition rev (-1 unconditional, 0 create only, r ≥ 1 if the file's rev ≤ r).
        case set(Body, cond: Int64)
        /// DEL with its condition rev (as SET's).
        case del(cond: Int64)
    }

    public enum Reply: Hashable, Sendable {
        /// GET's answer: rev 0 (with an empty body) means missing.
        case found(Version)
        /// SET succeeded at this global revision.
        case written(rev: Int64)
        /// DEL succeeded (doozer does not say at which revision).
        case deleted
        /// REV_MISMATCH: the write did not take effect.
        case revMismatch
        /// Any other definite error (READONLY, TOO_LATE, ...): the operation did not take effect.
        case failed(String)
    }

    /// `s3 [1200, 1850] set /k "v5" cond -1 -> written rev 42`.
    public var description: String {
        let end = outcome.completed.map(String.init) ?? "?"
        return "s\(session) [\(invoked), \(end)] \(describe(request)) -> \(outcome.output.map(describe) ?? "unknown")"
    }

    private func describe(_ request: Request) -> String {
        switch request {
        case .get(nil): return "get \(path)"
        case .get(let r?): return "get \(path) at \(r)"
        case .set(let body, let cond): return "set \(path) \(body) cond \(cond)"
        case .del(let cond): return "del \(path) cond \(cond)"
        }
    }

    private func describe(_ reply: Reply) -> String {
        let read = storeRev.map { " (store rev \($0))" } ?? ""
        switch reply {
        case .found(let v): return (v.rev == 0 && v.body.bytes.isEmpty ? "missing" : "found \(v)") + read
        case .written(let rev): return "written rev \(rev)"
        case .deleted: return "deleted"
        case .revMismatch: return "REV_MISMATCH"
        case .failed(let text): return "failed: \(text)"
        }
    }
}
