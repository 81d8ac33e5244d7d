/// Admits at most one log line per kind of event per `interval`, counting the ones it holds
/// back so the next admitted line can say how many there were. A flood of bad frames or
/// refused connections thus costs a few lines per interval, not one per event. Owns only
/// its counters; it never logs by itself and never reads a clock (the caller passes `now`).
struct LogThrottle<Kind: Hashable> {
    let interval: Int64
    private var windows: [Kind: (opened: Int64, suppressed: Int)] = [:]

    init(interval: Int64) {
        precondition(interval > 0)
        self.interval = interval
    }

    /// Nil when a line of this kind was admitted less than `interval` before `now` (this one
    /// is counted instead); otherwise the number held back since that line, with this one
    /// admitted.
    mutating func admit(_ kind: Kind, now: Int64) -> Int? {
        if let window = windows[kind], now &- window.opened < interval {
            windows[kind] = (window.opened, window.suppressed + 1)
            return nil
        }
        let suppressed = windows[kind]?.suppressed ?? 0
        windows[kind] = (now, 0)
        return suppressed
    }
}
