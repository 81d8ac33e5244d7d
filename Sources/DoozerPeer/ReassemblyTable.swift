import DoozerConsensus

/// Messages arriving in fragments, put back together within fixed bounds.
///
/// Bounds: at most `maxPerSender` messages in progress per sender (a new one evicts that
/// sender's oldest) and at most `maxBytes` of buffers in all (a message's whole buffer counts
/// from its first fragment; a new one evicts the oldest messages until it fits), plus a flag
/// per fragment, never more than the buffer since every fragment is non-empty. A message
/// is known by its sender and id; a fragment that disagrees with what is known of its message
/// (another count or total, a piece of the wrong length) drops the message. Senders are
/// authenticated before their fragments get here, so the number of senders is the address
/// table's size. Not thread-safe. Public only as the `Fuzzing` SPI, for DoozerFuzz.
@_spi(Fuzzing) public struct ReassemblyTable {
    let maxPerSender: Int
    let maxBytes: Int
    /// Buffer bytes of the messages in progress, at most `maxBytes`.
    @_spi(Fuzzing) public private(set) var bytes = 0
    /// Incomplete messages given up: evicted by a bound, or their sender left the table.
    private(set) var evictions = 0
    private var messages: [Key: Partial] = [:]
    private var nextAge: UInt64 = 0

    private struct Key: Hashable {
        var sender: PeerID
        var id: UInt32
    }

    /// A message missing fragments.
    private struct Partial {
        let count: Int
        let total: Int
        /// Order of arrival of the first fragment: the smallest is evicted first.
        let age: UInt64
        var buffer: [UInt8]
        var received: [Bool]
        var missing: Int
    }

    @_spi(Fuzzing) public enum Outcome {
        /// Stored; the message still misses fragments.
        case stored
        /// The last missing fragment: the message's bytes, removed from the table.
        case complete([UInt8])
        /// A fragment already stored; ignored.
        case duplicate
        /// The fragment disagrees with its own split or with its message, which is dropped.
        case inconsistent
    }

    /// `maxBytes` must hold the largest message the caller accepts.
    @_spi(Fuzzing) public init(maxPerSender: Int, maxBytes: Int) {
        precondition(maxPerSender > 0 && maxBytes > 0)
        self.maxPerSender = maxPerSender
        self.maxBytes = maxBytes
    }

    /// Adds `fragment` from `sender`, whose `total` the caller has checked against its
    /// maximum message size (at most `maxBytes`).
    @_spi(Fuzzing) public mutating func add(_ fragment: PeerDatagram.Fragment, from sender: PeerID) -> Outcome {
        precondition(fragment.total <= maxBytes)
        let key = Key(sender: sender, id: fragment.id)
        // Taken out while it changes, so its buffer is never copied.
        let known = messages.removeValue(forKey: key)
        guard let range = PeerDatagram.fragmentRange(index: fragment.index, count: fragment.count, total: fragment.total),
              range.count == fragment.piece.count,
              known.map({ $0.count == fragment.count && $0.total == fragment.total }) ?? true else {
            if let known { bytes -= known.total }
            return .inconsistent
        }
        var partial = known ?? admit(key, count: fragment.count, total: fragment.total)
        guard !partial.received[fragment.index] else {
            messages[key] = partial
            return .duplicate
        }
        partial.received[fragment.index] = true
        partial.missing -= 1
        partial.buffer.withUnsafeMutableBytes { buffer in
            UnsafeMutableRawBufferPointer(rebasing: buffer[range]).copyMemory(from: fragment.piece)
        }
        guard partial.missing == 0 else {
            messages[key] = partial
            return .stored
        }
        bytes -= partial.total
        return .complete(partial.buffer)
    }

    /// Gives up the messages of every sender for which `leaving` is true.
    mutating func removeSenders(where leaving: (PeerID) -> Bool) {
        for key in messages.keys.filter({ leaving($0.sender) }) { evict(key) }
    }

    /// A new message's buffer, its bytes counted, after evicting what the bounds require.
    private mutating func admit(_ key: Key, count: Int, total: Int) -> Partial {
        while messages.keys.lazy.filter({ $0.sender == key.sender }).count >= maxPerSender {
            evict(oldest { $0.sender == key.sender })
        }
        while bytes + total > maxBytes { evict(oldest { _ in true }) }
        defer { nextAge += 1 }
        bytes += total
        return Partial(count: count, total: total, age: nextAge, buffer: [UInt8](repeating: 0, count: total),
                       received: [Bool](repeating: false, count: count), missing: count)
    }

    /// The oldest message whose key passes `filter`; the caller knows there is one.
    private func oldest(_ filter: (Key) -> Bool) -> Key {
        var oldest: (key: Key, age: UInt64)?
        for (key, partial) in messages where filter(key) && partial.age < oldest?.age ?? .max {
            oldest = (key, partial.age)
        }
        return oldest!.key
    }

    private mutating func evict(_ key: Key) {
        guard let partial = messages.removeValue(forKey: key) else { return }
        bytes -= partial.total
        evictions += 1
    }
}
