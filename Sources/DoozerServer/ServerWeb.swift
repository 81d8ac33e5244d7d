import DoozerNode
import DoozerReactor
import DoozerStore
import DoozerSystem
import DoozerTLS
import DoozerWeb

/// The web view's half of the server (spec §7 with B18 fixed): accepting web connections,
/// answering their one request, and feeding event streams from the store's WAIT machinery.
/// Everything runs on the loop thread next to the client port; the client-port path only
/// pays for a request counter and, when a web connection's watch fires, one lookup here.
extension Server {
    // MARK: Connections

    func acceptWeb(_ web: WebListener) {
        while let fd = acceptNext(web.fd, token: web.token, resume: .resumeWebAccepting, what: "web view") {
            guard let client = try? Socket.peerAddress(fd).withPort(0) else {
                fd.close()   // gone already
                continue
            }
            guard admitWeb(from: client, web) else {
                fd.close()
                continue
            }
            let token = registry.nextToken
            // With TLS on the client port, the web view is HTTPS on the same pair.
            let tls: TLSSession?
            do {
                tls = try clientTLS.map { clientTLS throws(TLSError) in try TLSSession(context: clientTLS.context, fd: fd) }
            } catch {
                logger.error("web view: \(error); dropping new connection")
                fd.close()
                continue
            }
            let channel = StreamChannel(fd: fd, inputCapacity: WebListener.inputCapacity,
                                        outputCapacity: WebListener.outputCapacity, tls: tls)
            let session = WebSession(token: token, client: client, channel: channel, openedAt: loop.now)
            do {
                try loop.register(fd, interest: .readable, token: token)
            } catch {
                logger.error("web view: \(error); dropping new connection")
                fd.close()
                continue
            }
            registry.insert(.web(session))
            web.connectionCount += 1
            web.connectionsPerClient[client, default: 0] += 1
            web.accepted(session)
        }
    }

    /// Whether a new connection from `client` may stay open: within `-webperclient` for its
    /// host, and within `-webconns` overall — making room, if need be, by closing the oldest
    /// connection still sending its request head. So connections that never send a request
    /// cannot lock out one that does, nor can one host take all the room.
    private func admitWeb(from client: SocketAddress, _ web: WebListener) -> Bool {
        let open = web.connectionsPerClient[client] ?? 0
        if open >= configuration.webMaxPerClient {
            refuseWeb(web, "\(client.host) has \(open) connections open (-webperclient \(configuration.webMaxPerClient))")
            return false
        }
        if web.connectionCount >= configuration.webMaxConnections {
            guard let oldest = web.takeOldestAwaitingHead() else {
                refuseWeb(web, "\(web.connectionCount) connections open (-webconns \(configuration.webMaxConnections)), "
                    + "none of them still sending its request")
                return false
            }
            logger.debug("web connection \(oldest.token) from \(oldest.client.host): closed to make room, it sent no request yet")
            closeWeb(oldest)
        }
        return true
    }

    /// Logs a refused connection, at most one line a second.
    private func refuseWeb(_ web: WebListener, _ reason: String) {
        guard let held = web.refusals.admit(.connection, now: loop.now) else { return }
        let since = held > 0 ? "; \(held) more closed since the last such line" : ""
        logger.notice("web view: closing a new connection: \(reason)\(since)")
    }

    func webReady(_ session: WebSession, events: IOEvents) {
        if events.contains(.writable) { markWebDirty(session) }
        if events.contains(.readable) {
            readWeb(session)
        } else if !events.isDisjoint(with: [.hangup, .error]) {
            closeWeb(session)
        }
    }

    /// Closes a web connection and cancels the watch of its stream.
    func closeWeb(_ session: WebSession) {
        guard let web, registry.remove(session.token) else { return }
        web.connectionCount -= 1
        if let open = web.connectionsPerClient[session.client], open > 1 {
            web.connectionsPerClient[session.client] = open - 1
        } else {
            web.connectionsPerClient[session.client] = nil
        }
        session.isOpen = false
        if session.state == .streaming { web.streamCount -= 1 }
        if let watch = session.watch {
            store.cancelWait(watch)
            session.watch = nil
        }
        session.channel.tls?.shutdown()
        loop.unregister(session.channel.fd)
        session.channel.fd.close()
    }

    func markWebDirty(_ session: WebSession) {
        guard let web, !session.isDirty, session.isOpen else { return }
        session.isDirty = true
        web.dirty.append(session)
    }

    /// Reads the request head (bounded by the parser's limit); after it, reads only to
    /// notice the client going away, discarding whatever it sends.
    private func readWeb(_ session: WebSession) {
        var budget = 64 * 1024
        while budget > 0 && session.isOpen && !session.peerClosed {
            switch session.channel.readOnce(minimumSpace: 1024) {
            case .bytes(let count, _):
                budget -= count
                if session.state == .readingHead {
                    parseHead(session)
                } else {
                    session.channel.input.consume(session.channel.input.readableCount)
                }
            case .wouldBlock:
                return
            case .endOfStream:
                if session.state == .answered && !session.channel.output.isEmpty {
                    session.peerClosed = true   // half-closed: finish sending, then close
                    markWebDirty(session)
                } else {
                    closeWeb(session)
                }
                return
            case .failed(let error):
                logger.debug("web connection \(session.token): \(error)")
                closeWeb(session)
                return
            }
        }
    }

    private func parseHead(_ session: WebSession) {
        let outcome = session.parser.parse(session.channel.input.readable)
        switch outcome {
        case .incomplete:
            return
        case .reject(let status):
            session.channel.input.consume(session.channel.input.readableCount)
            logger.debug("web connection \(session.token): malformed request (\(status.rawValue))")
            finish(session, with: HTTPResponse.text(status, "\(status.reason)\n"), includeBody: true)
        case .head(let head, _):
            session.channel.input.consume(session.channel.input.readableCount)
            answer(head, on: session)
        }
    }

    // MARK: Answers

    private func answer(_ head: HTTPRequestHead, on session: WebSession) {
        let readAllowed = WebAccess.readAllowed(head, readWrite: configuration.readWriteSecret,
                                                readOnly: configuration.readOnlySecret)
        let includeBody = head.method != "HEAD"
        switch WebRouter.route(head, readAllowed: readAllowed) {
        case .asset(let asset):
            finish(session, with: asset.response, includeBody: includeBody)
        case .viewer(let directory):
            let page = ViewerPage.response(clusterName: configuration.clusterName, directory: directory,
                                           nodeID: id.description, snapshot: store.current, stats: webStats())
            finish(session, with: page, includeBody: includeBody)
        case .cluster:
            let body = ClusterDocument.json(clusterName: configuration.clusterName, nodeID: id.description,
                                            snapshot: store.current, stats: webStats())
            finish(session, with: HTTPResponse(status: .ok, headers: [("Content-Type", "application/json; charset=utf-8")],
                                               body: body),
                   includeBody: includeBody)
        case .health:
            finish(session, with: NodeReadiness.healthResponse(rev: store.rev), includeBody: includeBody)
        case .ready:
            finish(session, with: readiness().response, includeBody: includeBody)
        case .reject(let kind):
            finish(session, with: kind.response, includeBody: includeBody)
        case .events(let directory, let glob):
            if includeBody {
                startStream(session, directory: directory, glob: glob)
            } else {
                session.append(HTTPResponse.eventStreamHead())
                session.state = .answered
                markWebDirty(session)
            }
        }
    }

    private func finish(_ session: WebSession, with response: HTTPResponse, includeBody: Bool) {
        session.append(response.encoded(includeBody: includeBody))
        session.state = .answered
        markWebDirty(session)
    }

    /// What `/ready` reports, as of now.
    func readiness() -> NodeReadiness {
        let consensus = cluster.consensus
        let role: NodeReadiness.Role = consensus.isLeader ? .leader : consensus.isMember ? .member : .slave
        return NodeReadiness(role: role, rev: store.rev, behind: max(0, consensus.knownCommit - consensus.applied),
                             inContact: cluster.cutOffSince == nil, cutOffSeconds: cutOffSeconds)
    }

    /// How long this node has been out of touch with its cluster's majority, in seconds.
    private var cutOffSeconds: Int64? { cluster.cutOffSince.map { (loop.now - $0) / 1_000_000_000 } }

    /// The stats panel's numbers as of now (rates as of the last tick).
    func webStats() -> WebStats {
        var stats = WebStats()
        stats.rev = store.rev
        stats.clientConnections = clientCount
        stats.webConnections = web?.connectionCount ?? 0
        stats.eventStreams = web?.streamCount ?? 0
        stats.requestsPerSecond = web?.requestsPerSecond ?? 0
        stats.writesPerSecond = web?.writesPerSecond ?? 0
        stats.cutOffSeconds = cutOffSeconds
        return stats
    }

    // MARK: Event streams

    /// Sends the stream head and one message per file now under the directory (§7.2), then
    /// follows the directory from the next revision on.
    private func startStream(_ session: WebSession, directory: [UInt8], glob: Glob) {
        guard let web else { return }
        session.state = .streaming
        session.directory = directory
        session.glob = glob
        web.streamCount += 1
        session.append(HTTPResponse.eventStreamHead())
        session.append(HTTPResponse.eventStreamPreamble())
        let snapshot = store.current
        let target = directory.count > 1 ? Array(directory.dropLast()) : directory
        if case .directory = snapshot.lookup(target) {
            target.withUnsafeBytes { under in
                snapshot.forEachFile(under: under) { path, body, rev in
                    session.append(EventStreamEncoding.listing(path: path, body: body, rev: rev, directory: directory))
                }
            }
        } else {
            session.append(EventStreamEncoding.missingDirectory())
        }
        // However large the listing, live events may add only a bounded backlog to it.
        session.outputLimit = session.channel.output.readableCount + WebListener.streamBacklog
        armStream(session, from: snapshot.rev + 1)
        markWebDirty(session)
    }

    /// Registers the stream's next watch, exactly as a client's WAIT loop would: the first
    /// matching event at or after `from` fires it, and the stream re-arms at that event + 1,
    /// so nothing is missed and nothing repeats.
    private func armStream(_ session: WebSession, from start: Int64) {
        guard let glob = session.glob else { return }
        var from = start
        while true {
            switch store.wait(glob, from: from, owner: WatchOwner(token: session.token, cookie: 0)) {
            case .pending(let watch):
                session.watch = watch
                return
            case .fired(let event):
                send(event, on: session)
                from = event.seqn + 1
            case .tooLate:
                return streamFellOutOfHistory(session)
            }
        }
    }

    /// The events a stream still has to send are no longer retained: it ends.
    func streamFellOutOfHistory(_ session: WebSession) {
        logger.notice("web connection \(session.token): event stream fell out of history; closing it")
        closeWeb(session)
    }

    /// Called from `applyDecided` for the fired watch of a streaming web connection.
    func streamFired(_ session: WebSession, _ event: Event) {
        session.watch = nil
        send(event, on: session)
        markWebDirty(session)
        armStream(session, from: event.seqn + 1)
    }

    /// Appends `event` to a stream. However many streams carry it, the event is encoded once
    /// per loop iteration (the streams one write fires are answered in the same iteration), and
    /// not at all for a stream that has no room for even its raw bytes.
    private func send(_ event: Event, on session: WebSession) {
        guard let web, session.reserve(EventMessage.lowerBound(of: event)) else { return }
        if let cached = web.lastMessage, cached.seqn == event.seqn {
            return session.append(cached)
        }
        let message = EventMessage(event)
        web.lastMessage = message
        session.append(message)
    }

    // MARK: Flushing and the tick

    /// Sends what a web connection has buffered; closes it once a finished answer is out,
    /// when its stream fell too far behind, or on an error.
    private func flushWeb(_ session: WebSession) {
        session.isDirty = false
        guard session.isOpen else { return }
        if session.isOverLimit {
            logger.notice("web connection \(session.token): event stream client is not reading; closing it")
            return closeWeb(session)
        }
        switch session.channel.flush() {
        case .failed(let error):
            logger.debug("web connection \(session.token): \(error)")
            return closeWeb(session)
        case .drained where session.state == .answered:
            return closeWeb(session)
        case .drained, .pending:
            break
        }
        session.channel.output.shrinkIfSmall()
        do {
            try loop.updateInterest(of: &session.channel, reading: !session.peerClosed, token: session.token)
        } catch {
            logger.error("web connection \(session.token): \(error)")
            closeWeb(session)
        }
    }

    func flushWebConnections() {
        guard let web else { return }
        web.lastMessage = nil   // an encoded event is shared within one iteration only
        guard !web.dirty.isEmpty else { return }
        var index = 0
        while index < web.dirty.count {
            flushWeb(web.dirty[index])
            index += 1
        }
        web.dirty.removeAll(keepingCapacity: true)
    }

    /// Once a second: the rates for the stats panel, deadlines for slow requests and
    /// answers, and a heartbeat on every stream now and then.
    func webTick() {
        guard let web else { return }
        web.requestsPerSecond = Int64(truncatingIfNeeded: requestCount &- web.lastRequestCount)
        web.lastRequestCount = requestCount
        web.writesPerSecond = store.rev - web.lastRev
        web.lastRev = store.rev
        web.ticks += 1
        let heartbeat = web.ticks % WebListener.heartbeatTicks == 0
        web.sweepAwaitingHead()
        for case .web(let session) in registry.handlers {
            switch session.state {
            case .readingHead where loop.now - session.openedAt > configuration.webHeadTimeout,
                 .answered where loop.now - session.openedAt > WebListener.answerDeadline:
                closeWeb(session)
            case .streaming where heartbeat:
                session.append(EventStreamEncoding.heartbeat)
                markWebDirty(session)
            default:
                break
            }
        }
        schedule(.webTick, after: 1_000_000_000)
    }
}
