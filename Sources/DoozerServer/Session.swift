import DoozerNode
import DoozerReactor
import DoozerStore
import DoozerSystem
import DoozerWire

/// One client connection: its channel, its rights, and the requests it has waiting on the
/// store (WAITs, reads of future revisions, proposed writes) so they die with it. Owned by `Server`;
/// touched only on the loop thread. It never closes its descriptor: `Server.close` does.
final class Session {
    /// Output bytes above which the session's input is held back (backpressure).
    static let highWater = 256 * 1024
    /// Bodies at least this large are sent by reference, shared with the store and with every
    /// other connection they go to; smaller ones are copied, so small answers stay coalesced
    /// in one buffer and one `write`.
    static let sharedBodyThreshold = 4096

    let token: UInt64
    var channel: StreamChannel
    var rights: Rights
    /// Unsent bytes past which answers are dropped and the session is closed. A body sent by
    /// reference counts in full: it is what the client owes, and what it may keep alive.
    let outputLimit: Int
    /// False once `Server.close` has run.
    var isOpen = true
    /// An answer did not fit under `outputLimit`; the session is closed at its next flush.
    private(set) var isOverLimit = false
    /// WAITs registered in the store on this connection's behalf, to cancel when it closes.
    /// Fired ones linger until the list is compacted, which happens when it doubles.
    private(set) var waits: [WatchID] = []
    private var compactWaitsAt = 64
    /// The glob of this connection's last WAIT, compiled (watch loops repeat it).
    var lastWaitGlob: Glob?
    /// WAITs of this connection still pending in the store.
    var pendingWaits = 0
    /// Revisions this connection has reads parked on.
    var parkedRevisions: [Int64] = []
    /// Work units (`Server.cost(of:)`) left in this connection's share of the current wake-up.
    var requestBudget = 0
    /// Whole frames are left in the input because the budget ran out; `Server` serves them
    /// after the other ready connections, and reads no more input meanwhile.
    var isBacklogged = false
    /// Writes proposed on this connection and not answered yet.
    var pendingWrites = 0
    /// A joiner's copy of this node's state in progress on this connection (`Verb.snapshot`).
    var snapshotStream: SnapshotStream?
    /// Queued for a flush at the end of this loop iteration.
    var isDirty = false
    /// Largest request payload taken (`-maxframe`; a peer's stream, once it has shown its
    /// header, the transport's largest message).
    var maxFrame: Int
    /// The connection's remote address, once a peer record asked for it.
    var remoteAddress: SocketAddress?
    /// Its TLS handshake finished (and what a client certificate grants was granted).
    var handshakeDone = false

    init(token: UInt64, channel: consuming StreamChannel, rights: Rights, outputLimit: Int, maxFrame: Int) {
        self.token = token
        self.channel = channel
        self.rights = rights
        self.outputLimit = outputLimit
        self.maxFrame = maxFrame
    }

    /// Records a WAIT registered for this connection. Amortised O(1): when the list reaches
    /// twice its last compacted size it drops the watches that are no longer pending.
    func remember(_ watch: WatchID, in store: Store) {
        waits.append(watch)
        if waits.count >= compactWaitsAt {
            waits.removeAll { !store.isPending($0) }
            compactWaitsAt = max(64, 2 * waits.count)
        }
    }

    /// Whether input is held back until the client reads its answers.
    var isThrottled: Bool { channel.pendingOutputCount >= Session.highWater }

    /// Whether the input holds a whole frame (or one that is too large) waiting to be handled.
    var hasWholeFrame: Bool {
        Framing.scan(channel.input.readable, maxFrame: maxFrame) != .incomplete
    }

    /// Appends one response frame to the output buffer, unless the client has left more than
    /// `outputLimit` bytes unread, in which case the session is marked for closing.
    func send(_ fields: ResponseFields) {
        let count = fields.encodedCount
        guard admits(Framing.headerSize + count) else { return }
        let space = channel.output.writableSpace(minimum: Framing.headerSize + count)
        Framing.writeHeader(count, to: space.baseAddress!)
        fields.encode(to: space.baseAddress! + Framing.headerSize)
        channel.output.commit(Framing.headerSize + count)
    }

    /// `send` with `body` as the answer's value: copied when small, queued by reference after
    /// the frame's other bytes when at least `sharedBodyThreshold` bytes.
    func send(_ fields: ResponseFields, body: [UInt8]) {
        body.withUnsafeBytes { bytes in
            var fields = fields
            fields.value = bytes
            guard bytes.count >= Session.sharedBodyThreshold else { return send(fields) }
            let count = fields.encodedCount
            guard admits(Framing.headerSize + count) else { return }
            let head = Framing.headerSize + fields.encodedCountUpToValueBytes
            let space = channel.output.writableSpace(minimum: head)
            Framing.writeHeader(count, to: space.baseAddress!)
            fields.encodeUpToValueBytes(to: space.baseAddress! + Framing.headerSize)
            channel.output.commit(head)
            channel.appendShared(body)
        }
    }

    /// Whether `count` more bytes of answers fit under `outputLimit`; if not, the session is
    /// marked for closing and nothing more is sent.
    private func admits(_ count: Int) -> Bool {
        guard !isOverLimit, channel.pendingOutputCount + count <= outputLimit else {
            isOverLimit = true
            return false
        }
        return true
    }

    func sendError(tag: Int32?, _ code: ErrorCode) {
        var fields = ResponseFields()
        fields.tag = tag
        fields.errCode = code
        send(fields)
    }

    func sendError(tag: Int32?, _ code: ErrorCode, detail: UnsafeRawBufferPointer) {
        var fields = ResponseFields()
        fields.tag = tag
        fields.errCode = code
        fields.errDetail = detail
        send(fields)
    }
}
