import DoozerSystem

/// Allows at most one "not a member" notice per source address per `interval`, remembering
/// at most `capacity` addresses.
///
/// When the table is full, entries older than `interval` are swept out, at most once per
/// `interval`; a new address that still finds no room is refused. So a flood from many
/// (possibly spoofed) sources draws at most `capacity` notices per `interval`, and the
/// transport never becomes an amplifier.
struct NoticeLimiter {
    let capacity: Int
    let interval: Int64
    private var lastNotice: [SocketAddress: Int64] = [:]
    private var lastSweep: Int64?

    init(capacity: Int, interval: Int64 = 1_000_000_000) {
        precondition(capacity > 0 && interval > 0)
        self.capacity = capacity
        self.interval = interval
    }

    /// Whether a notice may go to `source` at `now` (monotonic nanoseconds); if so, it is
    /// recorded as sent.
    mutating func permit(_ source: SocketAddress, now: Int64) -> Bool {
        if let last = lastNotice[source] {
            guard now - last >= interval else { return false }
        } else if lastNotice.count >= capacity {
            if let lastSweep, now - lastSweep < interval { return false }
            lastSweep = now
            lastNotice = lastNotice.filter { now - $0.value < interval }
            guard lastNotice.count < capacity else { return false }
        }
        lastNotice[source] = now
        return true
    }
}
