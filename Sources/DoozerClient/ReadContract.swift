import DoozerWire

/// How fresh a `DoozerClient` read must be. The wire is the original's: a GET without a rev
/// answers from whatever the node it reaches has applied; the client makes the guarantees.
public enum ReadConsistency: Sendable {
    /// Never older than anything this client has seen (its own writes included), also after it
    /// moved to another node: every plain read and REV of a `DoozerClient` is monotonic.
    case monotonic
    /// Includes every write acknowledged before the call began, by any client through any
    /// node (`DoozerClient.linearizableRev()`); costs a consensus round.
    case linearizable
}

/// What a client knows about the store's revisions: the floor — the highest revision an answer
/// has shown to exist — and how far the node behind the current connection (by generation) is
/// known to have applied. A plain value; the client guards it with a lock.
struct ReadFloor: Equatable {
    private(set) var floor: Int64 = 0
    /// The connection generation `reached` is about.
    private var generation = 0
    private var reached: Int64 = 0

    /// An answer on connection `generation` showed that its node has applied revision `rev`.
    mutating func saw(_ rev: Int64, on generation: Int) {
        floor = max(floor, rev)
        if generation > self.generation {
            self.generation = generation
            reached = rev
        } else if generation == self.generation {
            reached = max(reached, rev)
        }
    }

    /// Whether the node behind connection `generation` may not have applied the floor yet.
    func isBehind(on generation: Int) -> Bool {
        floor > (generation == self.generation ? reached : 0)
    }
}

/// The read contract of `DoozerClient`. Every answer that carries a store revision raises the
/// floor (`storeRevision`). A read of the current state (GET or STAT without a rev, REV) is sent
/// as is when the connection's node is known to have applied the floor (as long as the client
/// saw revisions only in that node's answers) and is otherwise *fenced* first: REV,
/// and when the node is behind, a STAT at the floor, which the node parks until it has applied
/// it (spec §2.6). So a read after a failover waits for a lagging node instead of answering
/// from an older state; a node that does not catch up within its share of the reconnect window
/// is left for the next address, and when none does, the read fails with `.behind`.
extension DoozerClient {
    /// A revision that includes every write acknowledged before this call began — by any client,
    /// through any node — and every state any read returned before it. Later reads of this client
    /// are at or after it (a GET at it, or any plain read, is then linearizable).
    ///
    /// How: a NOP, then REV on the same connection (both sent again, on another connection if
    /// this one breaks). Why it is enough: a node acknowledges a write only once it has applied
    /// it, and revisions are applied strictly in order, so when write W was acknowledged every
    /// consensus instance up to W's had its value chosen. The NOP is proposed after the call
    /// began, so after W's acknowledgement; an instance never chooses a second value, so the NOP
    /// lands in a later instance and takes a revision R > W's (the same holds for the revision
    /// of any state a read returned). The node answers the NOP once it has applied R, so the REV
    /// that follows answers R or more; the floor returned is at least that.
    ///
    /// Cost: one consensus round (the leader batches the NOP with other writes) and one local
    /// round trip. The NOP is a write: it needs write access and a member (a slave answers
    /// READONLY; a node cut off from its majority holds it until it is reconnected), and it adds
    /// a no-op revision — path `/`, seen by WAITs on `/**` — to the history.
    public func linearizableRev() throws(DoozerError) -> Int64 {
        _ = try Operations.checked(exchange(Request(verb: .nop), deadline: nil, revisionRequired: true))
        return floorState.withLock { $0.floor }
    }

    /// GET of the current state: `.monotonic` as `get(path)`, `.linearizable` after
    /// `linearizableRev()`. A missing file is `([], 0)`.
    public func get(_ path: String, consistency: ReadConsistency) throws(DoozerError) -> (body: [UInt8], rev: Int64) {
        if consistency == .linearizable { _ = try linearizableRev() }
        return try get(path)
    }

    // MARK: Revisions in answers

    /// The store revision `response` shows its node has applied, if any. SET, REV, WAIT and
    /// SNAPSHOT answer one; a read at rev r is answered only once r is applied; a GET's, STAT's
    /// or WALK's `rev` is the file's, which the node's revision is at least. Errors show none.
    static func storeRevision(of request: Request, _ response: Response) -> Int64? {
        guard response.errCode == nil else { return nil }
        switch request.verb.flatMap(Verb.init(rawValue:)) {
        case .rev?, .set?, .wait?, .snapshot?:
            return response.rev
        case .get?, .stat?, .getdir?, .walk?:
            return max(request.rev ?? 0, response.rev ?? 0)
        default:
            return nil
        }
    }

    /// Whether `request` reads the node's current state (and so is fenced first).
    static func readsCurrentState(_ request: Request) -> Bool {
        switch request.verb.flatMap(Verb.init(rawValue:)) {
        case .rev?: return true
        case .get?, .stat?, .getdir?, .walk?: return request.rev == nil
        default: return false
        }
    }

    /// Whether a successful `request` made a revision its answer does not carry (DEL, NOP).
    static func writesWithoutRevision(_ request: Request) -> Bool {
        request.verb == Verb.del.rawValue || request.verb == Verb.nop.rawValue
    }

    func observe(_ request: Request, _ response: Response, on lease: Lease) {
        if let rev = Self.storeRevision(of: request, response) { observe(rev, on: lease) }
    }

    func observe(_ rev: Int64, on lease: Lease) {
        floorState.withLock { $0.saw(rev, on: lease.generation) }
    }

    // MARK: Fencing

    /// How long one node may take to catch up with the floor before the next address is
    /// tried: an equal share of the reconnect window per address.
    var catchUpPatience: Duration { timeoutOrDefault / knownAddresses.count }

    /// Returns once the node behind `lease` is known to have applied the floor: at once when it
    /// is, else after REV (and, if that is lower, a STAT parked at the floor). Throws
    /// `.behind(floor)` at `deadline`.
    func fence(_ lease: Lease, until deadline: ContinuousClock.Instant?) throws(CallFailure) {
        while let floor = floorState.withLock({ $0.isBehind(on: lease.generation) ? $0.floor : nil }) {
            if try currentRevision(on: lease, deadline: deadline, deadlineError: .behind(rev: floor)) >= floor { return }
            let parked = Request(verb: .stat, path: "/", rev: floor)
            let response = try lease.connection.core.roundTrip(parked, deadline: deadline, deadlineError: .behind(rev: floor))
            // TOO_LATE: a snapshot install took the node past the floor; its REV says so next.
            if response.errCode == ErrorCode.tooLate.rawValue { continue }
            do {
                _ = try Operations.checked(response)
            } catch {
                throw CallFailure(error: error, sent: true, broken: false)
            }
            observe(floor, on: lease)
        }
    }

    /// REV on `lease`: the node has applied at least that revision.
    @discardableResult
    func currentRevision(on lease: Lease, deadline: ContinuousClock.Instant? = nil,
                         deadlineError: DoozerError = .timeout) throws(CallFailure) -> Int64 {
        let response = try lease.connection.core.roundTrip(Request(verb: .rev), deadline: deadline, deadlineError: deadlineError)
        guard let rev = response.rev else {
            throw CallFailure(error: .malformedResponse("REV answer without rev"), sent: true, broken: false)
        }
        observe(rev, on: lease)
        return rev
    }

    /// After a DEL or NOP, REV on the same connection: its node has applied the write, so REV
    /// bounds the write's revision from above and the floor covers it. If that REV fails, the
    /// write's revision stays unknown (a later read on another node may not include it) —
    /// unless `required`, when the failure is thrown and the caller sends the write again.
    func learnWrittenRevision(_ request: Request, _ response: Response, on lease: Lease,
                              required: Bool) throws(CallFailure) {
        guard response.errCode == nil, Self.writesWithoutRevision(request) else { return }
        do {
            try currentRevision(on: lease)
        } catch {
            if required { throw error }
        }
    }
}
