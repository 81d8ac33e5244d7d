import DoozerNode
import DoozerStore
import DoozerWire

/// A read (GET, STAT, GETDIR, WALK) whose revision has not been applied yet, with the
/// request bytes copied out of the input buffer. Answered by `Server.applyDecided`.
struct ParkedRead {
    let session: UInt64
    let verb: Verb
    let tag: Int32?
    let path: [UInt8]
    let offset: Int32
    let glob: Glob?
}

private let permissionDenied: StaticString = "permission denied"
private let notAPeer: StaticString = "not a peer of this cluster"

extension Server {
    /// Handles one request in arrival order (spec §2.7): every check in the original's order,
    /// then the verb. Responses go to the session's output buffer; nothing here blocks.
    func handle(_ request: RequestView, from session: Session) {
        let tag = request.tag
        guard let raw = request.verb, let verb = Verb(rawValue: raw) else {
            session.sendError(tag: tag, .unknownVerb)
            return
        }
        switch verb {
        case .get, .stat, .getdir, .walk, .wait, .snapshot:
            guard session.rights.read else { return deny(tag, session) }
        case .set, .del, .nop:
            guard session.rights.write else { return deny(tag, session) }
            guard isWritable else { return session.sendError(tag: tag, .readonly) }
        case .peer:
            guard session.rights.write else { return deny(tag, session) }
        case .rev, .self, .access:
            break
        }

        switch verb {
        case .snapshot:
            serveSnapshot(request, session)
        case .peer:
            guard streamed(request.value ?? Server.noBytes, on: session) else {
                return notAPeer.withUTF8Buffer { session.sendError(tag: tag, .other, detail: UnsafeRawBufferPointer($0)) }
            }
        case .rev:
            var fields = ResponseFields()
            fields.tag = tag
            fields.rev = store.rev
            session.send(fields)
        case .self:
            id.bytes.withUnsafeBytes { bytes in
                var fields = ResponseFields()
                fields.tag = tag
                fields.value = bytes
                session.send(fields)
            }
        case .access:
            let secret = request.value ?? Server.noBytes
            guard let granted = Rights.granted(by: secret, readWrite: configuration.readWriteSecret,
                                               readOnly: configuration.readOnlySecret) else {
                return deny(tag, session)
            }
            session.rights.add(granted)
            respondTagOnly(tag, session)
        case .get, .stat, .getdir, .walk:
            read(verb, request, session)
        case .wait:
            wait(request, session)
        case .set, .del:
            write(verb, request, session)
        case .nop:
            propose(Mutation.nop, origin: .client(session: session.token, tag: tag, verb: .nop))
        }
    }

    private func deny(_ tag: Int32?, _ session: Session) {
        permissionDenied.withUTF8Buffer { text in
            session.sendError(tag: tag, .other, detail: UnsafeRawBufferPointer(text))
        }
    }

    private func respondTagOnly(_ tag: Int32?, _ session: Session) {
        var fields = ResponseFields()
        fields.tag = tag
        session.send(fields)
    }

    private func sendGlobError(_ tag: Int32?, _ pattern: UnsafeRawBufferPointer, _ session: Session) {
        let detail = Array("invalid glob pattern: ".utf8) + pattern
        detail.withUnsafeBytes { session.sendError(tag: tag, .other, detail: $0) }
    }

    /// The compiled glob of a WAIT or WALK, or nil once its error is answered: OTHER for a
    /// pattern over `-maxglob` (its cost to match grows with its length) or one that does not
    /// compile.
    private func compileGlob(_ pattern: UnsafeRawBufferPointer, _ tag: Int32?, _ session: Session) -> Glob? {
        guard pattern.count <= configuration.maxGlob else {
            Server.globTooLong.withUTF8Buffer { session.sendError(tag: tag, .other, detail: UnsafeRawBufferPointer($0)) }
            return nil
        }
        guard let glob = Glob(pattern) else {
            sendGlobError(tag, pattern, session)
            return nil
        }
        return glob
    }

    static let globTooLong: StaticString = "glob pattern longer than -maxglob"
    static let pathTooLong: StaticString = "path longer than -maxpath"

    // MARK: Reads

    private func read(_ verb: Verb, _ request: RequestView, _ session: Session) {
        let tag = request.tag
        var glob: Glob?
        switch verb {
        case .get:
            guard let path = request.path else { return session.sendError(tag: tag, .missingArg) }
            guard PathSyntax.isValid(path) else { return session.sendError(tag: tag, .badPath) }
        case .getdir:
            guard let path = request.path, request.offset != nil else { return session.sendError(tag: tag, .missingArg) }
            guard PathSyntax.isValid(path) else { return session.sendError(tag: tag, .badPath) }
        case .walk:
            guard let path = request.path, let offset = request.offset else { return session.sendError(tag: tag, .missingArg) }
            guard let compiled = compileGlob(path, tag, session) else { return }
            guard offset >= 0 else { return session.sendError(tag: tag, .range) }
            glob = compiled
        default:
            break   // STAT: an absent or invalid path reads as missing
        }
        let path = request.path ?? Server.noBytes
        let offset = request.offset ?? 0

        guard let rev = request.rev else {
            return answerRead(verb, tag: tag, path: path, offset: offset, glob: glob, in: store.current, session: session)
        }
        switch store.snapshot(at: max(rev, 1)) {
        case .snapshot(let snapshot):
            answerRead(verb, tag: tag, path: path, offset: offset, glob: glob, in: snapshot, session: session)
        case .tooLate:
            session.sendError(tag: tag, .tooLate)
        case .future:
            guard admitsParked(tag, session) else { return }
            let parked = ParkedRead(session: session.token, verb: verb, tag: tag, path: Array(path),
                                    offset: offset, glob: glob)
            park(parked, until: rev, session: session)
        }
    }

    /// The snapshot-dependent half of GET, STAT, GETDIR and WALK.
    func answerRead(_ verb: Verb, tag: Int32?, path: UnsafeRawBufferPointer, offset: Int32, glob: Glob?,
                    in snapshot: Snapshot, session: Session) {
        var fields = ResponseFields()
        fields.tag = tag
        switch verb {
        case .get:
            switch snapshot.lookup(path) {
            case .missing:
                fields.rev = 0
                fields.value = Server.noBytes
                session.send(fields)
            case .file(let body, let rev):
                fields.rev = rev
                session.send(fields, body: body)
            case .directory:
                session.sendError(tag: tag, .isDir)
            }
        case .stat:
            let entry = PathSyntax.isValid(path) ? snapshot.lookup(path) : .missing
            switch entry {
            case .missing:
                fields.len = 0
                fields.rev = 0
            case .file(let body, let rev):
                fields.len = Int32(truncatingIfNeeded: body.count)
                fields.rev = rev
            case .directory(let count):
                fields.len = Int32(truncatingIfNeeded: count)
                fields.rev = -2
            }
            session.send(fields)
        case .getdir:
            switch snapshot.entry(ofDirectory: path, at: Int(offset)) {
            case .noEnt: session.sendError(tag: tag, .noEnt)
            case .notDir: session.sendError(tag: tag, .notDir)
            case .range: session.sendError(tag: tag, .range)
            case .name(let name):
                name.withUnsafeBytes { name in
                    fields.path = name
                    session.send(fields)
                }
            }
        case .walk:
            guard let glob, let hit = snapshot.walk(glob, offset: Int(offset)) else {
                return session.sendError(tag: tag, .range)
            }
            fields.flags = EventFlags.set
            fields.rev = hit.rev
            hit.path.withUnsafeBytes { path in
                fields.path = path
                session.send(fields, body: hit.body)
            }
        default:
            preconditionFailure("answerRead handles GET, STAT, GETDIR and WALK only")
        }
    }

    // MARK: WAIT

    private func wait(_ request: RequestView, _ session: Session) {
        let tag = request.tag
        guard let pattern = request.path, let rev = request.rev else { return session.sendError(tag: tag, .missingArg) }
        let glob: Glob
        if let cached = session.lastWaitGlob, cached.hasPattern(pattern) {
            glob = cached   // a watcher re-issues the same glob at every event
        } else {
            guard let compiled = compileGlob(pattern, tag, session) else { return }
            glob = compiled
            session.lastWaitGlob = compiled
        }
        guard admitsParked(tag, session) else { return }
        switch registerWait(glob, from: max(rev, 1), tag: tag, session: session) {
        case .fired(let event):
            respond(to: tag, with: event, on: session)
        case .tooLate:
            session.sendError(tag: tag, .tooLate)
        case .pending:
            break
        }
    }

    /// Whether `session` may have one more WAIT or future read pending (`-maxwaits`); if not,
    /// the request is answered with an error saying so.
    private func admitsParked(_ tag: Int32?, _ session: Session) -> Bool {
        guard session.pendingWaits + session.parkedRevisions.count >= configuration.maxWaits else { return true }
        notice(.waitLimit, "connection \(session.token): \(configuration.maxWaits) WAITs and future reads pending (-maxwaits); refusing more")
        waitLimitDetail.withUnsafeBytes { session.sendError(tag: tag, .other, detail: $0) }
        return false
    }

    /// A WAIT's answer: the event's path, body, seqn and flags.
    func respond(to tag: Int32?, with event: Event, on session: Session) {
        event.withWaitAnswer { answer in
            var fields = answer
            fields.tag = tag
            session.send(fields, body: event.body)
        }
        markDirty(session)
    }

    /// Answers every WAIT that `event` fired: each answer's frame is encoded per waiter, and
    /// a large body is shared by all of them rather than copied into each.
    func deliver(_ event: Event, to owners: [WatchOwner]) {
        event.withWaitAnswer { answer in
            var fields = answer
            for owner in owners {
                switch registry[owner.token] {
                case .client(let session):
                    fields.tag = Server.tag(owner.cookie)
                    session.pendingWaits -= 1
                    session.send(fields, body: event.body)
                    markDirty(session)
                case .web(let session):
                    streamFired(session, event)
                default:
                    break   // closing cancels a connection's watches: not reached
                }
            }
        }
    }

    /// A watch whose events are no longer retained: a client's WAIT is answered TOO_LATE, a web
    /// view's event stream ends.
    func answerTooLate(_ owner: WatchOwner) {
        switch registry[owner.token] {
        case .client(let session):
            session.sendError(tag: Server.tag(owner.cookie), .tooLate)
            markDirty(session)
        case .web(let session):
            streamFellOutOfHistory(session)
        default:
            break   // closing cancels a connection's watches: not reached
        }
    }

    /// Answers the WAITs whose scan of history ended in this slice of it (`Store.scanBudget`).
    func continueHistoryScans() {
        for outcome in store.continueHistoryScans() {
            switch outcome {
            case .fired(let owner, let event):
                deliver(event, to: [owner])
            case .tooLate(let owner):
                answerTooLate(owner)
            }
        }
    }

    // MARK: SET and DEL

    private func write(_ verb: Verb, _ request: RequestView, _ session: Session) {
        let tag = request.tag
        guard let path = request.path, let rev = request.rev else { return session.sendError(tag: tag, .missingArg) }
        guard PathSyntax.isValid(path) else { return session.sendError(tag: tag, .badPath) }
        guard path.count <= configuration.maxPath else {
            return Server.pathTooLong.withUTF8Buffer {
                session.sendError(tag: tag, .badPath, detail: UnsafeRawBufferPointer($0))
            }
        }
        let mutation = verb == .set
            ? Mutation.set(path, rev: rev, body: request.value ?? Server.noBytes)
            : Mutation.delete(path, rev: rev)
        propose(mutation, origin: .client(session: session.token, tag: tag, verb: verb))
    }
}

extension Event {
    /// Calls `use` with the fields of a WAIT answered by this event but its tag and its body
    /// (sent with `Session.send(_:body:)`), pointing into the event's path; valid only
    /// inside `use`.
    func withWaitAnswer<R>(_ use: (ResponseFields) -> R) -> R {
        path.withUnsafeBytes { path in
            var fields = ResponseFields()
            fields.flags = flags
            fields.rev = seqn
            fields.path = path
            return use(fields)
        }
    }
}
