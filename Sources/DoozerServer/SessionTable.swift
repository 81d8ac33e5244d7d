/// The open client sessions, in a slab indexed by epoll token. A token names a slot and that
/// slot's generation, so finding the session of a ready descriptor or of a fired WAIT hashes
/// nothing, and the token of a closed connection finds nothing even once its slot is reused.
/// Owned by `Server`; it only stores sessions and never touches their descriptors.
struct SessionTable {
    private var slots: [Session?] = []
    private var generations: [UInt16] = []
    private var freeSlots: [Int] = []
    private(set) var count = 0

    /// Tokens start here: `base + generation << 32 + slot`, below `Server.Token.firstWebSession`
    /// (2⁴⁸) for any slot under 2³² − 16.
    private static let base = Server.Token.firstSession

    /// The token the next `insert` will use.
    var nextToken: UInt64 {
        if let slot = freeSlots.last { return Self.token(slot: slot, generation: generations[slot]) }
        return Self.token(slot: slots.count, generation: 0)
    }

    @inline(__always)
    private static func token(slot: Int, generation: UInt16) -> UInt64 {
        base + (UInt64(generation) << 32 | UInt64(slot))
    }

    /// Stores `session`, whose token must be `nextToken`.
    mutating func insert(_ session: Session) {
        precondition(session.token == nextToken, "session token \(session.token) is not the next token")
        if let slot = freeSlots.popLast() {
            slots[slot] = session
        } else {
            slots.append(session)
            generations.append(0)
        }
        count += 1
    }

    subscript(token: UInt64) -> Session? {
        guard token >= Self.base, token < Server.Token.firstWebSession else { return nil }
        let t = token - Self.base
        let slot = Int(t & 0xFFFF_FFFF)
        guard slot < slots.count, generations[slot] == UInt16(truncatingIfNeeded: t >> 32) else { return nil }
        return slots[slot]
    }

    /// Forgets the session with `token`; false if there is none.
    mutating func remove(_ token: UInt64) -> Bool {
        guard self[token] != nil else { return false }
        let slot = Int((token - Self.base) & 0xFFFF_FFFF)
        slots[slot] = nil
        generations[slot] &+= 1
        freeSlots.append(slot)
        count -= 1
        return true
    }

    /// Every open session, in no particular order.
    var all: [Session] { slots.compactMap { $0 } }
}
