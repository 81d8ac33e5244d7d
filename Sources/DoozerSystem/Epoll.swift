import CShims

/// Readiness bits as epoll reports them.
public struct IOEvents: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let readable = IOEvents(rawValue: CSHIMS_EPOLLIN)
    public static let writable = IOEvents(rawValue: CSHIMS_EPOLLOUT)
    public static let error = IOEvents(rawValue: CSHIMS_EPOLLERR)
    public static let hangup = IOEvents(rawValue: CSHIMS_EPOLLHUP)
}

/// An epoll instance with a preallocated event array. Level-triggered. Owns its descriptor
/// and the array; never allocates after `init`.
public final class Epoll {
    public let fd: FileDescriptor
    private let events: UnsafeMutableRawPointer
    private let capacity: Int32

    public init(capacity: Int = 256) throws(SystemError) {
        fd = FileDescriptor(rawValue: try retryingInterrupts("epoll_create1") { cshims_epoll_create() })
        self.capacity = Int32(capacity)
        events = .allocate(byteCount: cshims_epoll_event_size() * capacity, alignment: 16)
    }

    deinit {
        events.deallocate()
        fd.close()
    }

    public func add(_ target: FileDescriptor, _ interest: IOEvents, token: UInt64) throws(SystemError) {
        _ = try retryingInterrupts("epoll_ctl(ADD)") {
            cshims_epoll_ctl(fd.rawValue, CSHIMS_EPOLL_CTL_ADD, target.rawValue, interest.rawValue, token)
        }
    }

    public func modify(_ target: FileDescriptor, _ interest: IOEvents, token: UInt64) throws(SystemError) {
        _ = try retryingInterrupts("epoll_ctl(MOD)") {
            cshims_epoll_ctl(fd.rawValue, CSHIMS_EPOLL_CTL_MOD, target.rawValue, interest.rawValue, token)
        }
    }

    public func remove(_ target: FileDescriptor) throws(SystemError) {
        _ = try retryingInterrupts("epoll_ctl(DEL)") {
            cshims_epoll_ctl(fd.rawValue, CSHIMS_EPOLL_CTL_DEL, target.rawValue, 0, 0)
        }
    }

    /// Waits up to `timeoutMilliseconds` (-1 = forever) and returns how many events are ready;
    /// read them with `token(at:)` and `events(at:)` before the next wait. An interrupted
    /// wait returns 0.
    public func wait(timeoutMilliseconds: Int32) throws(SystemError) -> Int {
        let n = cshims_epoll_wait(fd.rawValue, events, capacity, timeoutMilliseconds)
        if n >= 0 { return Int(n) }
        let errno = Errno.current
        if errno == .interrupted { return 0 }
        throw SystemError("epoll_wait", errno)
    }

    @inlinable public func token(at index: Int) -> UInt64 { _token(index) }
    @inlinable public func events(at index: Int) -> IOEvents { IOEvents(rawValue: _mask(index)) }

    @usableFromInline func _token(_ index: Int) -> UInt64 { cshims_epoll_event_data(events, Int32(index)) }
    @usableFromInline func _mask(_ index: Int) -> UInt32 { cshims_epoll_event_mask(events, Int32(index)) }
}
