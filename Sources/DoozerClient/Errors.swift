import DoozerWire

/// Every failure a client call can report. `description` is what the `doozer` CLI prints after
/// "Error: " (spec §8.3, §10.4). A plain value: it never refers to the connection it came from.
public enum DoozerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The server answered with an error code (and, for `OTHER`, usually a detail).
    case server(code: ErrorCode, detail: String?)
    /// The connection or client was closed by its owner.
    case closed
    /// `wait(timeout:)` gave up; the connection stays usable (B22).
    case waitTimeout
    /// Not a usable `doozer:` URI (spec §9.1).
    case invalidURI
    /// A `cn` lookup through the DzNS found no address (B20).
    case noKnownAddress
    /// A dial, read or write failed; the text follows the original's Go wording,
    /// e.g. `dial tcp 127.0.0.1:1: connect: connection refused`.
    case connection(String)
    /// A dial (or call) deadline passed.
    case timeout
    /// An unconditional write (SET/DEL at rev -1, NOP) was in flight when the connection broke;
    /// it may or may not have been committed and is never repeated.
    case connectionLost
    /// The server sent something that is not a valid response.
    case malformedResponse(String)
    /// A read of the current state found no node that had applied `rev`, the newest revision
    /// this client has seen, within the reconnect window: the nodes it reached lag, are
    /// frozen or cut off from their majority — or the cluster restarted without persistence
    /// and is a new store whose revisions start again (a new client can read that one).
    case behind(rev: Int64)

    public var description: String {
        switch self {
        case .server(let code, let detail):
            if let detail, !detail.isEmpty { return "\(code.protocolName): \(detail)" }
            return code.protocolName
        case .closed: return "closed"
        case .waitTimeout: return "wait timeout"
        case .invalidURI: return "invalid uri"
        case .noKnownAddress: return "no known address"
        case .connection(let text): return text
        case .timeout: return "timeout"
        case .connectionLost: return "connection lost"
        case .malformedResponse(let text): return "malformed response: \(text)"
        case .behind(let rev): return "no node has caught up with rev \(rev), the newest this client has seen"
        }
    }

    /// The server's error code, if the server reported this error.
    public var code: ErrorCode? {
        if case .server(let code, _) = self { return code }
        return nil
    }
}

extension ErrorCode {
    /// The code's name as the original prints it: `REV_MISMATCH`, `ISDIR`, `OTHER`, ….
    public var protocolName: String {
        switch self {
        case .tagInUse: return "TAG_IN_USE"
        case .unknownVerb: return "UNKNOWN_VERB"
        case .readonly: return "READONLY"
        case .tooLate: return "TOO_LATE"
        case .revMismatch: return "REV_MISMATCH"
        case .badPath: return "BAD_PATH"
        case .missingArg: return "MISSING_ARG"
        case .range: return "RANGE"
        case .notDir: return "NOTDIR"
        case .isDir: return "ISDIR"
        case .noEnt: return "NOENT"
        case .other: return "OTHER"
        }
    }
}
