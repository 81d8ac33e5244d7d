import DoozerNode
import DoozerReactor
import DoozerStore
import DoozerSystem
import DoozerWeb

/// One web view connection: its channel, the request head being parsed, and — once it has
/// become an event stream — the directory it follows and the one store watch it has pending.
/// Held by `Server.registry`; touched only on the loop thread. It serves exactly one request
/// (every answer closes the connection) and never closes its own descriptor: `Server.closeWeb`
/// does, which also cancels its watch.
final class WebSession {
    enum State {
        /// Reading the request head.
        case readingHead
        /// A complete answer is buffered; the connection closes once it is sent.
        case answered
        /// An endless event stream.
        case streaming
    }

    let token: UInt64
    /// The client's host (port cleared), the key of its per-client connection count.
    let client: SocketAddress
    var channel: StreamChannel
    var parser = HTTPHeadParser()
    var state = State.readingHead
    /// Loop time of the accept, for the head and answer deadlines.
    let openedAt: Int64
    /// False once `Server.closeWeb` has run.
    var isOpen = true
    /// Queued for a flush at the end of this loop iteration.
    var isDirty = false
    /// The client shut down its side: no more reads (level-triggered epoll would spin).
    var peerClosed = false

    /// The streamed directory (ends in `/`) and its glob (`<directory>**`).
    var directory: [UInt8] = []
    var glob: Glob?
    /// The store watch that delivers the next matching event, while streaming.
    var watch: WatchID?
    /// Unsent bytes past which a stream is closed (its client does not keep up).
    var outputLimit = Int.max
    /// A message did not fit under `outputLimit`; closed at the next flush.
    private(set) var isOverLimit = false

    init(token: UInt64, client: SocketAddress, channel: consuming StreamChannel, openedAt: Int64) {
        self.token = token
        self.client = client
        self.channel = channel
        self.openedAt = openedAt
    }

    /// Buffers `bytes` unless that would pass `outputLimit`, in which case the session is
    /// marked for closing instead.
    func append(_ bytes: [UInt8]) {
        guard reserve(bytes.count) else { return }
        bytes.withUnsafeBytes { channel.output.append($0) }
    }

    /// Buffers an event message as this stream's directory sees it (see `append(_:)`).
    func append(_ message: EventMessage) {
        let head = message.head(directory: directory)
        guard reserve(head.count + message.tail.count) else { return }
        head.withUnsafeBytes { channel.output.append($0) }
        message.tail.withUnsafeBytes { channel.output.append($0) }
    }

    /// Whether `count` more bytes fit under `outputLimit`; if not, the session is marked for
    /// closing. Lets a caller refuse a message before paying for its encoding.
    func reserve(_ count: Int) -> Bool {
        guard !isOverLimit, channel.output.readableCount + count <= outputLimit else {
            isOverLimit = true
            return false
        }
        return true
    }
}
