import DoozerNode
import DoozerStore
import DoozerWire

/// The write path (spec §4.9): every write this node originates is proposed to the
/// `sequencer`, and answered when — and only when — the sequencer applies it at its decided
/// revision or fails it. Mutations decided elsewhere arrive through the same `applyDecided`.
extension Server {
    /// Hands `mutation` to the sequencer and remembers whom to answer. Past
    /// `PendingWrites.capacity` writes in flight, the origin is answered with
    /// `WriteRefusal.tooManyInFlight` at once and nothing is proposed.
    func propose(_ mutation: [UInt8], origin: WriteOrigin) {
        var bookkeeping = true
        if case .client(let token, _, _) = origin {
            registry.client(token)?.pendingWrites += 1
            bookkeeping = false
        }
        guard let id = pendingWrites.insert(origin) else {
            return answer(origin, refusal: .tooManyInFlight)
        }
        sequencer.submit(mutation, proposal: id, bookkeeping: bookkeeping)
    }

    /// Applies a decided mutation at the next revision, whoever proposed it: fires the WAITs it
    /// matches, answers the reads parked on that revision, then answers its origin if it is
    /// one of this node's pending proposals (a closed connection's is forgotten: it applies,
    /// answering nobody). Only the sequencer calls this, in decided order — except for the
    /// seed's layout, which is applied locally, not via consensus (spec §5.2), with no proposal.
    @discardableResult
    package func applyDecided(_ mutation: [UInt8], proposal: ProposalID?) -> Event {
        let applied = store.apply(mutation)
        if !applied.fired.isEmpty { deliver(applied.event, to: applied.fired) }
        answerParkedReads(at: store.rev, from: store.current)
        if let proposal, let origin = pendingWrites.remove(proposal) {
            answer(origin, with: applied.event)
        }
        return applied.event
    }

    /// Answers the reads parked on revision `rev`: from `snapshot` (the tree at `rev`), or
    /// TOO_LATE when nil (the revision was skipped by a snapshot install and is not in history).
    func answerParkedReads(at rev: Int64, from snapshot: Snapshot?) {
        for read in parkedReads.removeValue(forKey: rev) ?? [] {
            guard let session = registry.client(read.session) else { continue }
            session.parkedRevisions.removeAll { $0 == rev }
            if let snapshot {
                read.path.withUnsafeBytes { path in
                    answerRead(read.verb, tag: read.tag, path: path, offset: read.offset, glob: read.glob,
                               in: snapshot, session: session)
                }
            } else {
                session.sendError(tag: read.tag, .tooLate)
            }
            markDirty(session)
        }
    }

    /// The sequencer will not apply `proposal`, or cannot tell whether it was applied. A write
    /// that was refused is answered with its error; one whose outcome is unknown is never
    /// answered with an error (a client reads an error as "not written"): its connection is
    /// closed, which every client already takes as "outcome unknown". A proposal that is not
    /// pending (its connection closed) answers nobody.
    package func failProposal(_ proposal: ProposalID, _ failure: ProposalFailure) {
        guard let origin = pendingWrites.remove(proposal) else { return }
        switch failure {
        case .readonly: answer(origin, refusal: .readonly)
        case .overloaded: answer(origin, refusal: .tooManyInFlight)
        case .tooLarge: answer(origin, refusal: .valueTooLarge)
        case .outcomeUnknown: lostTrack(of: origin)
        }
    }

    private func lostTrack(of origin: WriteOrigin) {
        switch origin {
        case .client(let token, _, _):
            guard let session = settledSession(token) else { return }
            notice(.outcomeUnknown, "connection \(token): closed: this node lost track of a write on it (it caught up from a snapshot or left the cluster with the write in flight), so it cannot say whether the write was applied")
            close(session)
        case .node(let what):
            logger.notice("\(what) write: outcome unknown (this node caught up from a snapshot or left the cluster with it in flight)")
        }
    }

    /// A write's answer from the event that applied it: its error, or the tag (with the new
    /// revision for a SET).
    private func answer(_ origin: WriteOrigin, with event: Event) {
        switch origin {
        case .client(let token, let tag, let verb):
            guard let session = settledSession(token) else { return }
            if let error = event.error {
                session.sendError(tag: tag, Server.errorCode(error))
            } else {
                var fields = ResponseFields()
                fields.tag = tag
                if verb == .set { fields.rev = event.seqn }
                session.send(fields)
            }
            markDirty(session)
        case .node(let what):
            // A conditional bookkeeping write that lost a race (another slave claimed the
            // slot first, another leader removed the node) is expected, not an error.
            if event.error == .revMismatch {
                logger.info("\(what) lost a race at rev \(event.seqn): another write came first")
            } else if let error = event.error {
                logger.error("\(what) write failed at rev \(event.seqn): \(error)")
            }
        }
    }

    private func answer(_ origin: WriteOrigin, refusal: WriteRefusal) {
        switch origin {
        case .client(let token, let tag, _):
            guard let session = settledSession(token) else { return }
            if let detail = refusal.detail {
                detail.withUTF8Buffer { session.sendError(tag: tag, refusal.code, detail: UnsafeRawBufferPointer($0)) }
            } else {
                session.sendError(tag: tag, refusal.code)
            }
            markDirty(session)
        case .node(let what):
            logger.error("\(what) write not applied: \(refusal.code)\(refusal.detail.map { " (\($0))" } ?? "")")
        }
    }

    /// The open session `token`, now with one write fewer pending.
    private func settledSession(_ token: UInt64) -> Session? {
        guard let session = registry.client(token) else { return nil }
        session.pendingWrites -= 1
        return session
    }

    static func errorCode(_ error: MutationError) -> ErrorCode {
        switch error {
        case .revMismatch: .revMismatch
        case .notDirectory: .notDir
        case .isDirectory: .isDir
        case .badPath: .badPath
        case .badMutation, .badRev: .other
        }
    }
}

/// Why a proposed write was not applied, as its origin is told: an error code and, for codes
/// that need one, a fixed explanation (sent as `err_detail`). Each one means the write never
/// happened.
struct WriteRefusal {
    let code: ErrorCode
    let detail: StaticString?

    /// The pending-write table is full (`PendingWrites.capacity`), or consensus holds as many
    /// of this node's proposals as it may.
    static let tooManyInFlight = WriteRefusal(code: .other, detail: "too many writes in flight")
    /// B3: a write the peer transport could not carry is refused before it is proposed.
    static let valueTooLarge = WriteRefusal(code: .other, detail: "value too large (see doozerd -maxwrite)")
    /// The node is not a member (a slave, or removed): it takes no writes.
    static let readonly = WriteRefusal(code: .readonly, detail: nil)
}
