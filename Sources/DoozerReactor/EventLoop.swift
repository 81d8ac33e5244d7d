import DoozerSystem

/// What an `EventLoop` calls back into. All calls happen on the loop's thread.
public protocol EventLoopHandler: AnyObject {
    /// A registered descriptor is ready.
    func ready(token: UInt64, events: IOEvents)
    /// A timer scheduled with `schedule(after:timer:)` is due.
    func timerFired(_ timer: UInt64)
    /// Every ready descriptor and due timer of this iteration has been handled: the place
    /// to flush output once per connection.
    func iterationDone()
}

/// A single-threaded epoll loop with timers. It owns the epoll instance and the timer heap,
/// reads the monotonic clock once per iteration, and never blocks anywhere but in
/// `epoll_wait`. Not thread-safe: every call must come from the thread running `run`.
public final class EventLoop {
    private let epoll: Epoll
    private var timers = TimerQueue<UInt64>()
    private var running = false
    /// Set by `wakeImmediately`: the next wait polls instead of blocking.
    private var wakePending = false
    /// The monotonic time (ns) read at the start of the current iteration.
    public private(set) var now: Int64

    public init(maxEventsPerWait: Int = 512) throws(SystemError) {
        epoll = try Epoll(capacity: maxEventsPerWait)
        now = ProcessEnvironment.monotonicNanoseconds()
    }

    public func register(_ fd: FileDescriptor, interest: IOEvents, token: UInt64) throws(SystemError) {
        try epoll.add(fd, interest, token: token)
    }

    public func update(_ fd: FileDescriptor, interest: IOEvents, token: UInt64) throws(SystemError) {
        try epoll.modify(fd, interest, token: token)
    }

    /// Registers the interest `channel` needs now — readable unless `reading` is false,
    /// writable while output is pending — when it differs from what is registered.
    public func updateInterest(of channel: inout StreamChannel, reading: Bool, token: UInt64) throws(SystemError) {
        var interest: IOEvents = reading ? .readable : []
        if channel.hasPendingOutput { interest.insert(.writable) }
        interest.formUnion(channel.tlsWants)
        guard interest != channel.interest else { return }
        channel.interest = interest
        try epoll.modify(channel.fd, interest, token: token)
    }

    /// Stops watching `fd`; the caller still closes it.
    public func unregister(_ fd: FileDescriptor) {
        try? epoll.remove(fd)
    }

    /// Calls `timerFired(timer)` once, `delay` nanoseconds from the current iteration's time,
    /// and never in the iteration that scheduled it.
    public func schedule(after delay: Int64, timer: UInt64) {
        timers.schedule(at: now &+ max(1, delay), timer)
    }

    /// Makes the next iteration start without waiting, for a handler that left work for it
    /// (a connection whose requests exceeded its share of this iteration).
    public func wakeImmediately() { wakePending = true }

    /// Makes `run` return after the current iteration.
    public func stop() { running = false }

    /// Runs iterations until `stop()`: wait for readiness or the next timer, dispatch every
    /// ready descriptor, run due timers, then `iterationDone()`.
    public func run(_ handler: some EventLoopHandler) throws(SystemError) {
        running = true
        while running {
            let ready = try epoll.wait(timeoutMilliseconds: wakePending ? 0 : waitTimeout())
            wakePending = false
            now = ProcessEnvironment.monotonicNanoseconds()
            for index in 0..<ready {
                handler.ready(token: epoll.token(at: index), events: epoll.events(at: index))
            }
            while let timer = timers.popDue(now: now) {
                handler.timerFired(timer)
            }
            handler.iterationDone()
        }
    }

    private func waitTimeout() -> Int32 {
        guard let deadline = timers.earliestDeadline else { return -1 }
        let current = ProcessEnvironment.monotonicNanoseconds()
        if deadline <= current { return 0 }
        // Round up so a timer is never woken for early and then spun on.
        let milliseconds = (deadline - current + 999_999) / 1_000_000
        return Int32(min(milliseconds, Int64(Int32.max)))
    }
}
