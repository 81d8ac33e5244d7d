/// What each epoll token (and each WAIT owner's token) names: a slab of handlers indexed by
/// token. A token is a slot (low 32 bits) and that slot's generation (high 32 bits), so
/// dispatching a ready descriptor or a fired WAIT hashes nothing, and the token of a closed
/// descriptor finds nothing until its slot has been reused 2³² times. A new kind of descriptor
/// is a new `Handler` case; the compiler then points at every dispatch that must handle it.
/// Owned by `Server`; it maps tokens to handlers and never touches descriptors.
struct Registry {
    /// How to handle a token's readiness, with the object it acts on.
    enum Handler {
        case clientListener
        case signals
        case webListener
        case client(Session)
        case web(WebSession)
        /// The peer transport's UDP socket.
        case peers
        /// An outgoing stream to a peer's client port (`PeerStreams`).
        case peerStream(PeerStream)
        /// The node log's completion eventfd (`-data`).
        case log
        /// The snapshot worker's completion eventfd (`-data`).
        case snapshots
    }

    private struct Slot {
        var generation: UInt32
        var handler: Handler?
    }

    private var slots: [Slot] = []
    private var freeSlots: [Int] = []

    /// The token the next `insert` returns, for objects that carry their own token.
    var nextToken: UInt64 {
        if let slot = freeSlots.last { return Self.token(slot: slot, generation: slots[slot].generation) }
        return Self.token(slot: slots.count, generation: 0)
    }

    @inline(__always)
    private static func token(slot: Int, generation: UInt32) -> UInt64 {
        UInt64(generation) << 32 | UInt64(slot)
    }

    /// Stores `handler` under `nextToken` and returns that token.
    @discardableResult
    mutating func insert(_ handler: Handler) -> UInt64 {
        let token = nextToken
        if let slot = freeSlots.popLast() {
            slots[slot].handler = handler
        } else {
            precondition(slots.count <= Int(UInt32.max), "more than 2³² registered descriptors")
            slots.append(Slot(generation: 0, handler: handler))
        }
        return token
    }

    subscript(token: UInt64) -> Handler? {
        guard let slot = slot(of: token) else { return nil }
        return slots[slot].handler
    }

    /// The client session with `token`, if it is still open.
    func client(_ token: UInt64) -> Session? {
        // Matched in place: copying the whole `Handler` out would cost an outlined copy.
        guard let slot = slot(of: token), case .client(let session) = slots[slot].handler else { return nil }
        return session
    }

    /// The slot `token` names, if its generation is current.
    @inline(__always)
    private func slot(of token: UInt64) -> Int? {
        let slot = Int(token & 0xFFFF_FFFF)
        guard slot < slots.count, slots[slot].generation == UInt32(truncatingIfNeeded: token >> 32) else { return nil }
        return slot
    }

    /// Forgets `token`, whose slot is then reused under a new generation; false if the token
    /// names nothing.
    mutating func remove(_ token: UInt64) -> Bool {
        guard let slot = slot(of: token), slots[slot].handler != nil else { return false }
        slots[slot].handler = nil
        slots[slot].generation &+= 1
        freeSlots.append(slot)
        return true
    }

    /// Every registered handler, in no particular order.
    var handlers: [Handler] { slots.compactMap(\.handler) }
}
