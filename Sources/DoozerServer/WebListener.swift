import DoozerNode
import DoozerReactor
import DoozerStore
import DoozerSystem
import DoozerWeb

/// The web view's listening socket and the state of its connections (which themselves live
/// in `Server.registry`): how many are open (in all and per client host), which may still be
/// sending their request head, how many are event streams, the event encoding they share, the
/// dirty list for the end-of-iteration flush, and the counters behind the stats panel. Owned by `Server` and
/// used only on its loop thread. It does no HTTP and never touches client-port sessions.
final class WebListener {
    let fd: FileDescriptor
    /// The listener's token in `Server.registry`.
    let token: UInt64
    /// The address actually bound (the `-w` address, with a real port if it asked for 0).
    let boundAddress: SocketAddress

    /// Open web connections.
    var connectionCount = 0
    /// Open web connections per client host (port cleared); hosts with none are removed.
    var connectionsPerClient: [SocketAddress: Int] = [:]
    /// One log line a second for connections refused at a limit.
    var refusals = LogThrottle<WebRefusal>(interval: 1_000_000_000)
    /// Connections in accept order from `awaitingHeadStart` on, among them every one still
    /// sending its request head; the others are skipped when met and swept out by the tick.
    private var awaitingHead: [WebSession] = []
    private var awaitingHeadStart = 0
    var dirty: [WebSession] = []
    /// Open event streams.
    var streamCount = 0
    /// The event last encoded for the streams, shared by all the streams it fires in one loop
    /// iteration; cleared at the iteration's flush so no large body outlives it.
    var lastMessage: EventMessage?

    /// Rates over the last whole second, updated by the 1 s tick.
    var requestsPerSecond: Int64 = 0
    var writesPerSecond: Int64 = 0
    var lastRequestCount: UInt64 = 0
    var lastRev: Int64 = 0
    /// Ticks since start, for the heartbeat schedule.
    var ticks = 0

    static let inputCapacity = 2048
    static let outputCapacity = 4096
    /// Unread live events a stream may hold before it is closed.
    static let streamBacklog = 1 << 20
    /// Time to take a whole answer (the time to send a request head is `-webheadtimeout`).
    static let answerDeadline: Int64 = 60_000_000_000
    /// Seconds between comment lines on idle-or-not streams (finds vanished clients).
    static let heartbeatTicks = 15

    /// Records a newly accepted connection, which has not sent its request head yet.
    func accepted(_ session: WebSession) {
        awaitingHead.append(session)
    }

    /// Takes the oldest open connection that is still sending its request head — the one to
    /// close when a new connection needs room: it has shown no credentials and holds nothing.
    func takeOldestAwaitingHead() -> WebSession? {
        while awaitingHeadStart < awaitingHead.count {
            let session = awaitingHead[awaitingHeadStart]
            awaitingHeadStart += 1
            if session.isOpen && session.state == .readingHead { return session }
        }
        return nil
    }

    /// Drops the connections that are closed or past their head from `awaitingHead`.
    func sweepAwaitingHead() {
        awaitingHead = awaitingHead[awaitingHeadStart...].filter { $0.isOpen && $0.state == .readingHead }
        awaitingHeadStart = 0
    }

    init(address: SocketAddress, token: UInt64) throws(SystemError) {
        self.token = token
        do {
            fd = try Socket.listenTCP(address, backlog: 128)
        } catch {
            throw SystemError("web view (-w \(address)): \(error.call)", error.errno)
        }
        do {
            boundAddress = try Socket.localAddress(fd)
        } catch {
            fd.close()
            throw error
        }
    }
}

/// The one kind of line `WebListener.refusals` throttles: a new web connection closed at once.
enum WebRefusal: Hashable { case connection }
