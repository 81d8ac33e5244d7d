import DoozerTLS
import DoozerWire
import Foundation

/// A client for the cluster a `doozer:` URI names (spec §9, §10). Owns at most one live
/// `DoozerConnection` at a time. It dials one of the URI's `ca` addresses — or, with a `cn` and a
/// boot URI, the addresses the DzNS lists under `/ctl/ns/<cn>` (the lookup connection is closed
/// afterwards, B20/B23) — and presents `sk` with ACCESS on every new connection. With `tls=1`
/// in the URI, or `TLSOptions`, every connection speaks TLS and checks the server's certificate.
///
/// When the connection breaks it dials another address (round-robin from a random start, short
/// back-off, for at most `timeout`, else 10 s) and re-issues the interrupted call: reads and
/// WAITs at the same rev, conditional writes (SET/DEL with rev ≠ -1). Unconditional writes
/// (SET/DEL at rev -1, NOP) that may have reached the server are never repeated: they fail with
/// `.connectionLost`. Reads of the current state are monotonic across reconnections, and
/// `linearizableRev()` makes them linearizable (the read contract: `ReadConsistency`, `fence`,
/// `ReadFloor`). Thread-safe; every call blocks the calling thread (never call it from a
/// server's event loop). It never caches data and never retries server error answers.
public final class DoozerClient: @unchecked Sendable {
    /// How long a broken connection is redialled when no timeout was given.
    public static let defaultReconnectWindow: Duration = .seconds(10)

    struct Lease {
        let connection: DoozerConnection
        let generation: Int
    }

    private struct State {
        var current: Lease?
        var generation = 0
        var nextIndex = 0
        var closed = false
    }

    private let addresses: [String]
    private let secret: [UInt8]?
    /// The TLS context every connection uses; nil for plain TCP.
    private let tls: TLSContext?
    private let timeout: Duration?
    /// A deadline for every non-WAIT call (only the DzNS lookup client sets it).
    private let callTimeout: Duration?
    private let state: LockedState<State>
    /// The read contract's revisions (`ReadFloor`).
    let floorState = LockedState(ReadFloor())
    /// Held by the one thread that dials; the others wait for its result.
    private let dialLock = NSLock()

    /// Connects as spec §9 describes: `ca` addresses, or `cn` looked up through `bootURI`'s DzNS
    /// (an empty `bootURI` counts as none). `timeout` bounds the whole connect (lookup, dial,
    /// ACCESS) and later reconnections. Fails with the last dial error if no address answers.
    /// `tls` turns TLS on (as `tls=1` in the URI does, with the system's CAs) for this cluster
    /// and the DzNS alike.
    public convenience init(uri: String, bootURI: String? = nil, timeout: Duration? = nil,
                            tls: TLSOptions? = nil) throws(DoozerError) {
        try self.init(uri: uri, bootURI: bootURI, timeout: timeout, callTimeout: nil, tls: tls)
    }

    init(uri: String, bootURI: String?, timeout: Duration?, callTimeout: Duration?, tls options: TLSOptions?) throws(DoozerError) {
        let deadline = timeout.map { ContinuousClock.now.advanced(by: $0) }
        let parsed = try DoozerURI(parsing: uri)
        var addresses = parsed.addresses
        if let name = parsed.clusterName, let bootURI, !bootURI.isEmpty {
            addresses = try DoozerClient.lookup(name, bootURI: bootURI, deadline: deadline, tls: options)
        }
        guard !addresses.isEmpty else { throw .invalidURI }
        self.addresses = addresses
        secret = parsed.secret
        tls = try (options ?? (parsed.tls ? TLSOptions() : nil)).map { options throws(DoozerError) in try options.context() }
        self.timeout = timeout
        self.callTimeout = callTimeout
        state = LockedState(State(nextIndex: Int.random(in: 0..<addresses.count)))
        try connectFirst(deadline: deadline)
    }

    deinit { close() }

    /// Closes the connection; outstanding and later calls fail with `.closed`. Idempotent.
    public func close() {
        let lease = state.withLock { state -> Lease? in
            state.closed = true
            defer { state.current = nil }
            return state.current
        }
        lease?.connection.close()
    }

    /// The address of the live connection, if any.
    public var currentAddress: String? {
        state.withLock { $0.current?.connection.address }
    }

    /// Addresses this client dials (the URI's `ca` values or the DzNS lookup result).
    public var knownAddresses: [String] { addresses }

    // MARK: Name lookup (spec §9.2)

    /// The addresses listed under `/ctl/ns/<name>` of the DzNS at `bootURI`, read at one rev.
    static func lookup(_ name: String, bootURI: String, deadline: ContinuousClock.Instant?,
                       tls: TLSOptions?) throws(DoozerError) -> [String] {
        let remaining = deadline.map { ContinuousClock.now.duration(to: $0) }
        if let remaining, remaining <= .zero { throw .timeout }
        let boot = try DoozerClient(uri: bootURI, bootURI: nil, timeout: remaining,
                                    callTimeout: remaining ?? defaultReconnectWindow, tls: tls)
        defer { boot.close() }
        let rev = try boot.rev()
        let directory = "/ctl/ns/\(name)"
        let names: [String]
        do {
            names = try boot.getdir(directory, rev: rev)
        } catch {
            // NOENT: no addresses; a name that is not a valid path component cannot have any.
            guard error.code == .noEnt || error.code == .badPath else { throw error }
            names = []
        }
        var found: [String] = []
        for entry in names {
            let (body, fileRev) = try boot.get(Operations.join(directory, entry), rev: rev)
            if fileRev > 0, !body.isEmpty { found.append(String(decoding: body, as: UTF8.self)) }
        }
        guard !found.isEmpty else { throw .noKnownAddress }
        return found.shuffled()
    }

    // MARK: Connections

    /// One round over the addresses, no back-off: a refused first dial reports at once.
    private func connectFirst(deadline: ContinuousClock.Instant?) throws(DoozerError) {
        var lastError: DoozerError = .noKnownAddress
        for _ in 0..<addresses.count {
            if let deadline, ContinuousClock.now >= deadline { throw .timeout }
            do {
                try dialNext(deadline: deadline)
                return
            } catch {
                if error.code != nil { throw error }  // ACCESS refused: not an address problem
                lastError = error
            }
        }
        throw lastError
    }

    /// Dials the next address in turn, presents the secret, installs it as current.
    private func dialNext(deadline: ContinuousClock.Instant?) throws(DoozerError) {
        let index = state.withLock { state -> Int in
            let index = state.nextIndex % addresses.count
            state.nextIndex = (index + 1) % addresses.count
            return index
        }
        var dialTimeout = timeout
        if let deadline {
            let remaining = ContinuousClock.now.duration(to: deadline)
            dialTimeout = min(dialTimeout ?? remaining, remaining)
        }
        if let dialTimeout, dialTimeout <= .zero { throw .timeout }
        let connection = try DoozerConnection.dial(addresses[index], timeout: dialTimeout, tls: tls)
        if let secret {
            do {
                try Operations.access(connection, secret, deadline: deadline)
            } catch {
                connection.close()
                throw error == .waitTimeout ? .timeout : error
            }
        }
        let (stale, replaced) = state.withLock { state -> (Bool, Lease?) in
            if state.closed { return (true, nil) }
            let replaced = state.current
            state.generation += 1
            state.current = Lease(connection: connection, generation: state.generation)
            return (false, replaced)
        }
        replaced?.connection.close()  // already dead: that is why a new one was dialled
        if stale {
            connection.close()
            throw .closed
        }
    }

    /// The live connection, redialling (rounds with back-off) until `deadline` (nil: the timeout
    /// or the default window from now) if there is none. Past `deadline` it throws the last dial error, or `.timeout` if no dial finished.
    func lease(deadline: ContinuousClock.Instant?) throws(DoozerError) -> Lease {
        let deadline = deadline ?? ContinuousClock.now.advanced(by: timeoutOrDefault)
        var lastError: DoozerError?
        var backoff: Duration = .milliseconds(20)
        while true {
            let snapshot = state.withLock { state -> (closed: Bool, lease: Lease?) in
                (state.closed, state.current)
            }
            if snapshot.closed { throw .closed }
            if let lease = snapshot.lease, lease.connection.core.isAlive { return lease }
            if !dialLock.lock(before: Date.now.addingTimeInterval(seconds(until: deadline))) { throw lastError ?? .timeout }
            defer { dialLock.unlock() }
            // Someone else may have dialled while this thread waited for the lock.
            let again = state.withLock { state -> (closed: Bool, lease: Lease?) in (state.closed, state.current) }
            if again.closed { throw .closed }
            if let lease = again.lease, lease.connection.core.isAlive { return lease }
            for _ in 0..<addresses.count {
                if ContinuousClock.now >= deadline { throw lastError ?? .timeout }
                do {
                    try dialNext(deadline: deadline)
                    if let lease = state.withLock({ $0.current }) { return lease }
                } catch {
                    if error.code != nil || error == .closed { throw error }
                    lastError = error
                }
            }
            if ContinuousClock.now.advanced(by: backoff) >= deadline {
                throw lastError ?? .timeout
            }
            Thread.sleep(forTimeInterval: seconds(of: backoff))
            backoff = min(backoff * 2, .milliseconds(500))
        }
    }

    /// Forgets a connection that failed (closing it), so the next lease dials again.
    func invalidate(_ lease: Lease) {
        let forgotten = state.withLock { state -> Bool in
            guard state.current?.generation == lease.generation else { return false }
            state.current = nil
            return true
        }
        if forgotten { lease.connection.close() }
    }

    /// Whether sending `request` again after it may have reached the server is harmless. A
    /// conditional write is: applied once, its condition fails the second time (and that
    /// refusal is then reported as `connectionLost`, not as REV_MISMATCH: see `exchange`).
    static func isRepeatable(_ request: Request) -> Bool {
        switch request.verb.flatMap(Verb.init(rawValue:)) {
        case .set?, .del?: return request.rev != -1
        case .nop?: return false
        default: return true
        }
    }

    private func seconds(until deadline: ContinuousClock.Instant) -> TimeInterval {
        seconds(of: ContinuousClock.now.duration(to: deadline))
    }

    private func seconds(of duration: Duration) -> TimeInterval {
        let (whole, attoseconds) = duration.components
        return TimeInterval(whole) + TimeInterval(attoseconds) / 1e18
    }

    var timeoutOrDefault: Duration { timeout ?? DoozerClient.defaultReconnectWindow }
}

extension DoozerClient: RequestExchanger {
    func exchange(_ request: Request, deadline: ContinuousClock.Instant?) throws(DoozerError) -> Response {
        try exchange(request, deadline: deadline, revisionRequired: false)
    }

    /// Sends `request` on the live connection — fenced first if it reads the current state
    /// (`fence`) — and raises the floor with its answer. On a broken connection it redials and
    /// re-sends the request unless it is an unconditional write that may already have reached
    /// the server. A request that breaks the connection dialled to retry it is not tried a
    /// third time: the server is refusing it (a frame over its `-maxframe`), and the break is
    /// reported at once. `revisionRequired` (a NOP of `linearizableRev`): the request is
    /// repeated until the REV after it is answered on the same connection.
    func exchange(_ request: Request, deadline callDeadline: ContinuousClock.Instant?,
                  revisionRequired: Bool) throws(DoozerError) -> Response {
        var callDeadline = callDeadline
        var deadlineError: DoozerError = .waitTimeout
        if callDeadline == nil, let callTimeout, request.verb != Verb.wait.rawValue {
            callDeadline = ContinuousClock.now.advanced(by: callTimeout)
            deadlineError = .timeout
        }
        let repeatable = revisionRequired || DoozerClient.isRepeatable(request)
        let fenced = DoozerClient.readsCurrentState(request)
        var reconnectDeadline: ContinuousClock.Instant?
        /// The generation of the first connection that broke under this request.
        var firstBroken: Int?
        /// Why the last node was left: it stayed behind the floor (reported if none catches up).
        var behind: DoozerError?
        while true {
            if let behind, let reconnectDeadline, ContinuousClock.now >= reconnectDeadline { throw behind }
            let lease: Lease
            do {
                lease = try self.lease(deadline: earliest(callDeadline, reconnectDeadline))
            } catch {
                if let callDeadline, ContinuousClock.now >= callDeadline, error == .timeout || error.isTransport {
                    throw deadlineError
                }
                if let behind, error == .timeout || error.isTransport { throw behind }
                throw error
            }
            if fenced, try !fenceOrLeave(lease, callDeadline: callDeadline, deadlineError: deadlineError, behind: &behind) {
                if reconnectDeadline == nil { reconnectDeadline = ContinuousClock.now.advanced(by: timeoutOrDefault) }
                continue
            }
            var ambiguous = false
            do throws(CallFailure) {
                let response = try lease.connection.core.roundTrip(request, deadline: callDeadline, deadlineError: deadlineError)
                // A conditional write sent again after a break, refused: the first copy may be
                // what changed the file. Its outcome is unknown, never the "not written" of
                // REV_MISMATCH.
                ambiguous = firstBroken != nil && response.errCode == ErrorCode.revMismatch.rawValue
                    && (request.verb == Verb.set.rawValue || request.verb == Verb.del.rawValue)
                guard !ambiguous else { throw CallFailure(error: .connectionLost, sent: true, broken: false) }
                observe(request, response, on: lease)
                try learnWrittenRevision(request, response, on: lease, required: revisionRequired)
                return response
            } catch {
                guard !ambiguous, isBreak(error) else { throw error.error }
                invalidate(lease)
                if error.sent && !repeatable { throw .connectionLost }
                if let firstBroken, lease.generation > firstBroken { throw refused(request, error.error) }
                firstBroken = firstBroken ?? lease.generation
                if reconnectDeadline == nil { reconnectDeadline = ContinuousClock.now.advanced(by: timeoutOrDefault) }
            }
        }
    }

    /// Fences `lease` for a read of the current state (`fence`), giving its node
    /// `catchUpPatience`. A node that stayed behind (noted in `behind`) or whose connection
    /// broke is left: its connection is dropped and false returned. A server error, or the
    /// call's deadline, is thrown.
    private func fenceOrLeave(_ lease: Lease, callDeadline: ContinuousClock.Instant?, deadlineError: DoozerError,
                              behind: inout DoozerError?) throws(DoozerError) -> Bool {
        do {
            try fence(lease, until: earliest(callDeadline, ContinuousClock.now.advanced(by: catchUpPatience)))
            return true
        } catch {
            if case .behind = error.error {
                if let callDeadline, ContinuousClock.now >= callDeadline { throw deadlineError }
                behind = error.error
            } else if !isBreak(error) {
                throw error.error
            }
            invalidate(lease)
            return false
        }
    }

    /// Whether `failure` ended the connection by itself (not a local close or a deadline).
    func isBreak(_ failure: CallFailure) -> Bool {
        failure.broken || (failure.error == .closed && !isClosed)
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    /// The error for a request that broke two connections in a row: the transport error, and
    /// the request's size, the usual reasons (over the server's `-maxframe`; plain TCP to a
    /// port that speaks TLS).
    func refused(_ request: Request, _ error: DoozerError) -> DoozerError {
        guard case .connection(let text) = error else { return error }
        let size = Framing.headerSize + request.encoded().count
        let tlsHint = tls == nil ? ", or does the server speak TLS (tls=1 in the URI)" : ""
        return .connection("\(text) (the server closed the connection on this \(size)-byte request twice; is it over the server's -maxframe\(tlsHint)?)")
    }
}

func earliest(_ a: ContinuousClock.Instant?, _ b: ContinuousClock.Instant?) -> ContinuousClock.Instant? {
    switch (a, b) {
    case (let a?, let b?): return min(a, b)
    case (let a?, nil): return a
    case (nil, let b?): return b
    case (nil, nil): return nil
    }
}

extension DoozerError {
    /// A dial, read or write failure (as opposed to a server answer or a local decision).
    var isTransport: Bool {
        switch self {
        case .connection, .malformedResponse: return true
        default: return false
        }
    }
}

extension DoozerClient {
    /// ACCESS on the current connection (the URI's `sk` is presented automatically on every
    /// new connection; a secret given here is not re-presented after a reconnection).
    public func access(_ secret: [UInt8]) throws(DoozerError) { try Operations.access(self, secret) }
    /// SET at `rev`; retried after a reconnection only if conditional (rev ≠ -1).
    public func set(_ path: String, rev: Int64, body: [UInt8]) throws(DoozerError) -> Int64 {
        try Operations.set(self, path, rev: rev, body: body)
    }
    /// DEL at `rev`; retried after a reconnection only if conditional (rev ≠ -1).
    public func del(_ path: String, rev: Int64) throws(DoozerError) { try Operations.del(self, path, rev: rev) }
    /// NOP; never retried once sent (`.connectionLost`).
    public func nop() throws(DoozerError) { try Operations.nop(self) }
    /// GET at `rev`; without one, of the current state, never older than anything this client
    /// has seen (`ReadConsistency.monotonic`). A missing file is `([], 0)`.
    public func get(_ path: String, rev: Int64? = nil) throws(DoozerError) -> (body: [UInt8], rev: Int64) {
        try Operations.get(self, path, rev: rev)
    }
    /// STAT at `rev`; without one, of the current state, monotonic as `get`.
    public func stat(_ path: String, rev: Int64? = nil) throws(DoozerError) -> (len: Int32, rev: Int64) {
        try Operations.stat(self, path, rev: rev)
    }
    public func statinfo(_ path: String, rev: Int64) throws(DoozerError) -> FileInfo {
        try Operations.statinfo(self, path, rev: rev)
    }
    public func getdir(_ dir: String, rev: Int64, offset: Int32 = 0, limit: Int = -1) throws(DoozerError) -> [String] {
        try Operations.getdir(self, dir, rev: rev, offset: offset, limit: limit)
    }
    public func getdirinfo(_ dir: String, rev: Int64, offset: Int32 = 0, limit: Int = -1) throws(DoozerError) -> [FileInfo] {
        try Operations.getdirinfo(self, dir, rev: rev, offset: offset, limit: limit)
    }
    public func walk(_ glob: String, rev: Int64, offset: Int32 = 0, limit: Int = -1) throws(DoozerError) -> [DoozerEvent] {
        try Operations.walk(self, glob, rev: rev, offset: offset, limit: limit)
    }
    /// WAIT; `timeout` bounds the whole call including reconnections (`.waitTimeout`).
    public func wait(_ glob: String, rev: Int64, timeout: Duration? = nil) throws(DoozerError) -> DoozerEvent {
        try Operations.wait(self, glob, rev: rev, timeout: timeout)
    }
    /// REV: the node's current revision, never lower than any this client has seen.
    public func rev() throws(DoozerError) -> Int64 { try Operations.rev(self) }
    public func selfID() throws(DoozerError) -> [UInt8] { try Operations.selfID(self) }
    /// Copies the node's state at one revision R as the snapshot stream (the format of
    /// DoozerSnapshot): `begin(R, bootstrap)` starts each attempt, `unit(bytes)` takes the
    /// stream's units in order. When R leaves the node's history before the copy ends, the
    /// copy starts again at a newer R (`begin` again: discard what came before), `attempts`
    /// times in all, then throws TOO_LATE. A broken connection is redialled and the unit
    /// asked for again. Errors the closures throw end the copy. Returns R.
    public func copySnapshot(attempts: Int = 3, begin: (_ rev: Int64, _ bootstrap: [UInt8]) throws -> Void,
                             unit: (_ bytes: [UInt8]) throws -> Void) throws -> Int64 {
        try Operations.copySnapshot(self, attempts: attempts, begin: begin, unit: unit)
    }

    /// Tree walk of §10.3 at one rev: visitor gets (path, info); returning false from a directory visit skips it.
    /// Errors on individual entries go to `onError(path, error)`; the walk continues.
    public func walkTree(_ root: String, rev: Int64,
                         visit: (_ path: String, _ info: FileInfo) -> Bool,
                         onError: (_ path: String, _ error: DoozerError) -> Void) {
        Operations.walkTree(self, root, rev: rev, visit: visit, onError: onError)
    }
}
