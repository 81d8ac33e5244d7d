import DoozerWire

/// Something that can exchange one request for one response: a connection, or a client that
/// reconnects underneath. Errors are already `DoozerError`s; server error codes are not.
protocol RequestExchanger: AnyObject, Sendable {
    func exchange(_ request: Request, deadline: ContinuousClock.Instant?) throws(DoozerError) -> Response
}

/// The operations of spec §10.2 over any exchanger, so that `DoozerConnection` and
/// `DoozerClient` behave identically apart from reconnection.
enum Operations {
    /// One request; a server error code becomes `.server`.
    static func call(_ peer: some RequestExchanger, _ request: Request,
                     deadline: ContinuousClock.Instant? = nil) throws(DoozerError) -> Response {
        try checked(peer.exchange(request, deadline: deadline))
    }

    /// `response`, or its server error code as `.server`.
    static func checked(_ response: Response) throws(DoozerError) -> Response {
        if let raw = response.errCode {
            guard let code = ErrorCode(rawValue: raw) else {
                throw .malformedResponse("unknown error code \(raw)\(response.errDetail.map { ": \($0)" } ?? "")")
            }
            throw .server(code: code, detail: response.errDetail)
        }
        return response
    }

    static func access(_ peer: some RequestExchanger, _ secret: [UInt8],
                       deadline: ContinuousClock.Instant? = nil) throws(DoozerError) {
        _ = try call(peer, Request(verb: .access, value: secret), deadline: deadline)
    }

    static func set(_ peer: some RequestExchanger, _ path: String, rev: Int64, body: [UInt8]) throws(DoozerError) -> Int64 {
        let response = try call(peer, Request(verb: .set, path: path, value: body, rev: rev))
        guard let newRev = response.rev else { throw .malformedResponse("SET answer without rev") }
        return newRev
    }

    static func del(_ peer: some RequestExchanger, _ path: String, rev: Int64) throws(DoozerError) {
        _ = try call(peer, Request(verb: .del, path: path, rev: rev))
    }

    static func nop(_ peer: some RequestExchanger) throws(DoozerError) {
        _ = try call(peer, Request(verb: .nop))
    }

    static func get(_ peer: some RequestExchanger, _ path: String, rev: Int64?) throws(DoozerError) -> (body: [UInt8], rev: Int64) {
        let response = try call(peer, Request(verb: .get, path: path, rev: rev))
        return (response.value ?? [], response.rev ?? 0)
    }

    static func stat(_ peer: some RequestExchanger, _ path: String, rev: Int64?) throws(DoozerError) -> (len: Int32, rev: Int64) {
        let response = try call(peer, Request(verb: .stat, path: path, rev: rev))
        return (response.len ?? 0, response.rev ?? 0)
    }

    static func statinfo(_ peer: some RequestExchanger, _ path: String, rev: Int64) throws(DoozerError) -> FileInfo {
        let (len, fileRev) = try stat(peer, path, rev: rev)
        if fileRev == 0 { throw .server(code: .noEnt, detail: nil) }
        return FileInfo(name: basename(path), len: len, rev: fileRev, isDir: fileRev == -2, isSet: true)
    }

    static func getdir(_ peer: some RequestExchanger, _ dir: String, rev: Int64, offset: Int32,
                       limit: Int) throws(DoozerError) -> [String] {
        var names: [String] = []
        var index = offset
        while limit < 0 || names.count < limit {
            let response: Response
            do {
                response = try call(peer, Request(verb: .getdir, path: dir, offset: index, rev: rev))
            } catch {
                if error.code == .range { break }
                throw error
            }
            names.append(response.path ?? "")
            if index == .max { break }
            index += 1
        }
        return names
    }

    /// Getdir then Statinfo per name; an entry whose STAT fails keeps only its name. The error
    /// of the listing itself is returned with whatever it listed (for the tree walk).
    static func getdirinfoPartial(_ peer: some RequestExchanger, _ dir: String, rev: Int64, offset: Int32,
                                  limit: Int) -> (infos: [FileInfo], error: DoozerError?) {
        let names: [String]
        do {
            names = try getdir(peer, dir, rev: rev, offset: offset, limit: limit)
        } catch {
            return ([], error)
        }
        let infos = names.map { name in
            (try? statinfo(peer, join(dir, name), rev: rev)).map { info in
                var named = info
                named.name = name
                return named
            } ?? FileInfo(name: name)
        }
        return (infos, nil)
    }

    static func getdirinfo(_ peer: some RequestExchanger, _ dir: String, rev: Int64, offset: Int32,
                           limit: Int) throws(DoozerError) -> [FileInfo] {
        let (infos, error) = getdirinfoPartial(peer, dir, rev: rev, offset: offset, limit: limit)
        if let error { throw error }
        return infos
    }

    static func walk(_ peer: some RequestExchanger, _ glob: String, rev: Int64, offset: Int32,
                     limit: Int) throws(DoozerError) -> [DoozerEvent] {
        var events: [DoozerEvent] = []
        var index = offset
        while limit < 0 || events.count < limit {
            let response: Response
            do {
                response = try call(peer, Request(verb: .walk, path: glob, offset: index, rev: rev))
            } catch {
                if error.code == .range { break }
                throw error
            }
            events.append(event(response))
            if index == .max { break }
            index += 1
        }
        return events
    }

    static func wait(_ peer: some RequestExchanger, _ glob: String, rev: Int64,
                     timeout: Duration?) throws(DoozerError) -> DoozerEvent {
        let deadline = timeout.map { ContinuousClock.now.advanced(by: $0) }
        return event(try call(peer, Request(verb: .wait, path: glob, rev: rev), deadline: deadline))
    }

    static func rev(_ peer: some RequestExchanger) throws(DoozerError) -> Int64 {
        let response = try call(peer, Request(verb: .rev))
        guard let rev = response.rev else { throw .malformedResponse("REV answer without rev") }
        return rev
    }

    static func selfID(_ peer: some RequestExchanger) throws(DoozerError) -> [UInt8] {
        try call(peer, Request(verb: .self)).value ?? []
    }

    /// The tree walk of spec §10.3 at one rev.
    static func walkTree(_ peer: some RequestExchanger, _ root: String, rev: Int64,
                         visit: (_ path: String, _ info: FileInfo) -> Bool,
                         onError: (_ path: String, _ error: DoozerError) -> Void) {
        let info: FileInfo
        do {
            info = try statinfo(peer, root, rev: rev)
        } catch {
            onError(root, error)
            return
        }
        walkNode(peer, root, info, rev: rev, visit: visit, onError: onError)
    }

    private static func walkNode(_ peer: some RequestExchanger, _ path: String, _ info: FileInfo, rev: Int64,
                                 visit: (_ path: String, _ info: FileInfo) -> Bool,
                                 onError: (_ path: String, _ error: DoozerError) -> Void) {
        guard info.isDir else {
            _ = visit(path, info)
            return
        }
        guard visit(path, info) else { return }
        let (entries, error) = getdirinfoPartial(peer, path, rev: rev, offset: 0, limit: -1)
        if let error { onError(path, error) }
        for entry in entries {
            walkNode(peer, join(path, entry.name), entry, rev: rev, visit: visit, onError: onError)
        }
    }

    /// Copies a node's state at one revision R (spec: `Verb.snapshot`): unit 0 pins R and
    /// carries the node's consensus bootstrap, units 1… at R are the snapshot stream, the last
    /// flagged. `begin(R, bootstrap)` starts each attempt and `unit(bytes)` takes the stream's
    /// units in order. When R leaves the node's history before the copy ends (TOO_LATE), the
    /// copy starts again at a newer R — `begin` is called again, so the consumer discards
    /// what it had — up to `attempts` times in all; then the last TOO_LATE is thrown. Errors
    /// the closures throw end the copy as they are. Returns R.
    static func copySnapshot(_ peer: some RequestExchanger, attempts: Int,
                             begin: (_ rev: Int64, _ bootstrap: [UInt8]) throws -> Void,
                             unit: (_ bytes: [UInt8]) throws -> Void) throws -> Int64 {
        var tooLate = DoozerError.server(code: .tooLate, detail: nil)
        for _ in 0..<max(1, attempts) {
            let first = try snapshotUnit(peer, 0, rev: 0)
            try begin(first.rev, first.bytes)
            do {
                var index: Int32 = 1
                while true {
                    let next = try snapshotUnit(peer, index, rev: first.rev)
                    try unit(next.bytes)
                    if next.last { return first.rev }
                    guard index < .max else { throw DoozerError.malformedResponse("SNAPSHOT stream without a last unit") }
                    index += 1
                }
            } catch let error as DoozerError where error.code == .tooLate {
                tooLate = error
            }
        }
        throw tooLate
    }

    static func snapshotUnit(_ peer: some RequestExchanger, _ unit: Int32,
                             rev: Int64) throws(DoozerError) -> (rev: Int64, bytes: [UInt8], last: Bool) {
        let response = try call(peer, Request(verb: .snapshot, offset: unit, rev: rev))
        guard let at = response.rev else { throw .malformedResponse("SNAPSHOT answer without rev") }
        return (at, response.value ?? [], (response.flags ?? 0) & 1 != 0)
    }

    static func event(_ response: Response) -> DoozerEvent {
        DoozerEvent(rev: response.rev ?? 0, path: response.path ?? "", body: response.value ?? [],
                    flags: (response.flags ?? 0) & (EventFlags.set | EventFlags.del))
    }

    /// `dir/name`, or `/name` under the root.
    static func join(_ dir: String, _ name: String) -> String {
        dir.hasSuffix("/") ? dir + name : dir + "/" + name
    }

    /// The last path component (empty for `/`).
    static func basename(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }
}

extension DoozerConnection: RequestExchanger {
    func exchange(_ request: Request, deadline: ContinuousClock.Instant?) throws(DoozerError) -> Response {
        do {
            return try core.roundTrip(request, deadline: deadline)
        } catch {
            throw error.error
        }
    }
}

extension DoozerConnection {
    /// ACCESS: presents a secret; rights only ever grow (spec §2.7).
    public func access(_ secret: [UInt8]) throws(DoozerError) { try Operations.access(self, secret) }
    /// SET at `rev` (-1 unconditional, 0 create only); returns the new rev.
    public func set(_ path: String, rev: Int64, body: [UInt8]) throws(DoozerError) -> Int64 {
        try Operations.set(self, path, rev: rev, body: body)
    }
    /// DEL at `rev` (-1 unconditional).
    public func del(_ path: String, rev: Int64) throws(DoozerError) { try Operations.del(self, path, rev: rev) }
    /// NOP: one consensus round.
    public func nop() throws(DoozerError) { try Operations.nop(self) }
    /// GET at `rev` (nil: current). A missing file is `([], 0)`.
    public func get(_ path: String, rev: Int64? = nil) throws(DoozerError) -> (body: [UInt8], rev: Int64) {
        try Operations.get(self, path, rev: rev)
    }
    /// STAT at `rev` (nil: current): rev -2 for a directory, 0 for a missing path.
    public func stat(_ path: String, rev: Int64? = nil) throws(DoozerError) -> (len: Int32, rev: Int64) {
        try Operations.stat(self, path, rev: rev)
    }
    /// STAT as a FileInfo; a missing path is `.server(.noEnt, nil)`.
    public func statinfo(_ path: String, rev: Int64) throws(DoozerError) -> FileInfo {
        try Operations.statinfo(self, path, rev: rev)
    }
    /// GETDIR from `offset` until RANGE or `limit` names (`limit < 0`: no limit).
    public func getdir(_ dir: String, rev: Int64, offset: Int32 = 0, limit: Int = -1) throws(DoozerError) -> [String] {
        try Operations.getdir(self, dir, rev: rev, offset: offset, limit: limit)
    }
    /// `getdir`, then `statinfo` per entry (an entry whose STAT fails keeps only its name).
    public func getdirinfo(_ dir: String, rev: Int64, offset: Int32 = 0, limit: Int = -1) throws(DoozerError) -> [FileInfo] {
        try Operations.getdirinfo(self, dir, rev: rev, offset: offset, limit: limit)
    }
    /// WALK from `offset` until RANGE or `limit` files.
    public func walk(_ glob: String, rev: Int64, offset: Int32 = 0, limit: Int = -1) throws(DoozerError) -> [DoozerEvent] {
        try Operations.walk(self, glob, rev: rev, offset: offset, limit: limit)
    }
    /// WAIT for the first event matching `glob` at or after `rev`. After `timeout` it throws
    /// `.waitTimeout` and the connection stays usable; the server's late answer is dropped (B22).
    public func wait(_ glob: String, rev: Int64, timeout: Duration? = nil) throws(DoozerError) -> DoozerEvent {
        try Operations.wait(self, glob, rev: rev, timeout: timeout)
    }
    /// REV: the server's current revision.
    public func rev() throws(DoozerError) -> Int64 { try Operations.rev(self) }
    /// The node's state at one revision R, unit by unit (see `DoozerClient.copySnapshot`).
    public func copySnapshot(attempts: Int = 3, begin: (_ rev: Int64, _ bootstrap: [UInt8]) throws -> Void,
                             unit: (_ bytes: [UInt8]) throws -> Void) throws -> Int64 {
        try Operations.copySnapshot(self, attempts: attempts, begin: begin, unit: unit)
    }
    /// SELF: the node's id.
    public func selfID() throws(DoozerError) -> [UInt8] { try Operations.selfID(self) }
    /// The tree walk of spec §10.3 at one rev (see `DoozerClient.walkTree`).
    public func walkTree(_ root: String, rev: Int64,
                         visit: (_ path: String, _ info: FileInfo) -> Bool,
                         onError: (_ path: String, _ error: DoozerError) -> Void) {
        Operations.walkTree(self, root, rev: rev, visit: visit, onError: onError)
    }
}
