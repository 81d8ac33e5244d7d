import DoozerWire

extension DoozerClient {
    /// Follows every event matching `glob` from `rev` inclusive: WAIT at `rev`, then at
    /// `event.rev + 1`, handing each event to `handler` exactly once, until `handler` returns
    /// false. Blocks the calling thread. Throws on a non-recoverable error (e.g. `TOO_LATE`,
    /// permission denied, `.closed`), or — when no address answers within the reconnect window
    /// — the error that broke the last connection (`EOF` when the server went away).
    ///
    /// Across a reconnection — the same cluster through another address — the next WAIT simply
    /// continues at `lastRev + 1`, so nothing is missed or repeated. Before that WAIT the watch
    /// checks that the store it reconnected to is the one it was following: a server that
    /// restarted without persistence (every doozerd so far; the original had none either) is a
    /// **new store whose revisions start again at 1**. It is recognised when its current rev is
    /// below the last event's rev, or when the last set event is not found at its rev
    /// (`GET path` at that rev has another rev or body). The watch then continues from rev 1 of
    /// the new store: the handler sees every matching event of the new store once, and sees
    /// revisions go down — the only sign of the restart. Events of the old store that happened
    /// after the last one delivered and before the restart are lost with that store.
    public func watch(_ glob: String, from rev: Int64, _ handler: (DoozerEvent) -> Bool) throws(DoozerError) {
        var next = rev
        var last: DoozerEvent?
        var followedGeneration: Int?
        var reconnectDeadline: ContinuousClock.Instant?
        /// What broke the connection being replaced: reported if no replacement is found.
        var broke: DoozerError?
        while true {
            let lease: Lease
            do {
                lease = try self.lease(deadline: reconnectDeadline)
            } catch {
                // The server went away (e.g. `EOF`, as the original reports it); the failed
                // redials only confirm it.
                if let broke, error.isTransport || error == .timeout { throw broke }
                throw error
            }
            let request = Request(verb: .wait, path: glob, rev: next)
            do throws(CallFailure) {
                if let generation = followedGeneration, generation != lease.generation, let last {
                    if try !isSameStore(lease.connection, last: last) { next = 1 }
                }
                followedGeneration = lease.generation
                var waiting = request
                waiting.rev = next
                let response = try lease.connection.core.roundTrip(waiting, deadline: nil)
                reconnectDeadline = nil
                if let raw = response.errCode {
                    guard let code = ErrorCode(rawValue: raw) else { throw CallFailure(error: .malformedResponse("unknown error code \(raw)"), sent: true, broken: false) }
                    throw CallFailure(error: .server(code: code, detail: response.errDetail), sent: true, broken: false)
                }
                broke = nil
                observe(waiting, response, on: lease)
                let event = Operations.event(response)
                last = event
                next = event.rev + 1
                if !handler(event) { return }
            } catch {
                guard isBreak(error) else { throw error.error }
                invalidate(lease)
                broke = broke ?? error.error
                if reconnectDeadline == nil {
                    reconnectDeadline = ContinuousClock.now.advanced(by: timeoutOrDefault)
                }
            }
        }
    }

    /// Whether `connection` serves the store in which `last` happened (see `watch`).
    private func isSameStore(_ connection: DoozerConnection, last: DoozerEvent) throws(CallFailure) -> Bool {
        let revResponse = try connection.core.roundTrip(Request(verb: .rev), deadline: nil)
        guard let current = revResponse.rev, current >= last.rev else { return false }
        guard last.isSet else { return true }
        let response = try connection.core.roundTrip(Request(verb: .get, path: last.path, rev: last.rev), deadline: nil)
        if let raw = response.errCode {
            // History trimmed past the event: nothing left to compare with; assume continuity.
            return raw == ErrorCode.tooLate.rawValue
        }
        return response.rev == last.rev && (response.value ?? []) == last.body
    }
}
