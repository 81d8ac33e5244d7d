import DoozerReactor
import DoozerStore
import DoozerSystem
import DoozerWeb

/// The web view's listening socket and the state of its connections (which themselves live
/// in `Server.registry`): how many are open and how many are event streams, the dirty list for
/// the end-of-iteration flush, and the counters behind the stats panel. Owned by `Server` and
/// used only on its loop thread. It does no HTTP and never touches client-port sessions.
final class WebListener {
    let fd: FileDescriptor
    /// The listener's token in `Server.registry`.
    let token: UInt64
    /// The address actually bound (the `-w` address, with a real port if it asked for 0).
    let boundAddress: SocketAddress

    /// Open web connections.
    var connectionCount = 0
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

    /// Most web connections open at once; further ones are closed on accept.
    static let maxConnections = 256
    static let inputCapacity = 2048
    static let outputCapacity = 4096
    /// Unread live events a stream may hold before it is closed.
    static let streamBacklog = 1 << 20
    /// Time to send a whole request head, and to take a whole answer.
    static let headDeadline: Int64 = 10_000_000_000
    static let answerDeadline: Int64 = 60_000_000_000
    /// Seconds between comment lines on idle-or-not streams (finds vanished clients).
    static let heartbeatTicks = 15

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
