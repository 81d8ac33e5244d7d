import CShims
#if canImport(Glibc)
import Glibc
#endif

/// A counter one thread signals and another waits on: a non-blocking eventfd the event loop can
/// register for readability, or a thread can block on. Owns the descriptor and closes it when
/// released; carries no data beyond "signalled since the last consume".
public final class EventCounter: Sendable {
    public let fd: FileDescriptor

    public init() throws(SystemError) {
        fd = FileDescriptor(rawValue: try retryingInterrupts("eventfd") { cshims_eventfd(0) })
    }

    deinit { fd.close() }

    /// Adds one: makes the descriptor readable. Never blocks (the counter cannot overflow in
    /// practice: it would take 2^64 signals without a consume).
    public func signal() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { Glibc.write(fd.rawValue, $0.baseAddress, 8) }
    }

    /// Resets the counter; returns whether it had been signalled. Never blocks.
    @discardableResult
    public func consume() -> Bool {
        var value: UInt64 = 0
        let n = withUnsafeMutableBytes(of: &value) { Glibc.read(fd.rawValue, $0.baseAddress, 8) }
        return n == 8 && value > 0
    }

    /// Blocks the calling thread until signalled, then consumes. For a worker thread, or for a
    /// caller that has nothing else to do (shutdown, tests) — never on the event loop.
    public func wait() throws(SystemError) {
        while !consume() {
            var request = pollfd(fd: fd.rawValue, events: Int16(POLLIN), revents: 0)
            _ = try retryingInterrupts("poll(eventfd)") { poll(&request, 1, -1) }
        }
    }
}

/// A joinable operating-system thread running one closure, with every signal blocked: a
/// process-directed signal (SIGTERM, SIGINT) is never delivered to it, so it goes to the
/// thread that reads it (the event loop's signalfd) even when this thread was started before
/// that one blocked it. Owns the thread until `join`, which one other thread calls (unchecked
/// Sendable: `joined` is not synchronised).
public final class SystemThread: @unchecked Sendable {
    private let handle: pthread_t
    private var joined = false

    /// Starts `body` on a new thread.
    public init(_ body: @escaping @Sendable () -> Void) throws(SystemError) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var handle = pthread_t()
        // A new thread inherits its creator's mask: block everything around the create.
        var all = sigset_t()
        var previous = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_SETMASK, &all, &previous)
        let status = pthread_create(&handle, nil, { argument in
            let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        if status != 0 {
            Unmanaged<Box>.fromOpaque(box).release()
            throw SystemError("pthread_create", Errno(rawValue: status))
        }
        self.handle = handle
    }

    /// Waits for the closure to return. Call once, from another thread.
    public func join() {
        guard !joined else { return }
        joined = true
        pthread_join(handle, nil)
    }

    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
}
