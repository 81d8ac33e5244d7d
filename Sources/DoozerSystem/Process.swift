import CShims
#if canImport(Glibc)
import Glibc
#endif

/// Process-wide facts and signals: the clock, randomness, the host name, termination signals.
public enum ProcessEnvironment {
    /// CLOCK_MONOTONIC in nanoseconds.
    @inlinable public static func monotonicNanoseconds() -> Int64 { cshims_monotonic_ns() }

    /// Nanoseconds since the epoch by the wall clock (which may be set back: for values that
    /// should only grow across restarts, not for measuring time).
    public static func wallClockNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }

    /// Cryptographically random bytes from getrandom(2).
    public static func randomBytes(_ count: Int) throws(SystemError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let status = bytes.withUnsafeMutableBytes { cshims_random_bytes($0.baseAddress, count) }
        if status != 0 { throw SystemError("getrandom", .current) }
        return bytes
    }

    /// The OS host name, or nil when it cannot be read.
    public static func hostName() -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// SIGINT, SIGTERM and SIGUSR1 (and, when asked, SIGHUP) delivered as a readable descriptor.
/// Creating it blocks those signals (and SIGPIPE) for the calling thread: create it on the
/// main thread before any other. Owns the descriptor: it is closed when this is released.
public final class TerminationSignals {
    public let fd: FileDescriptor
    /// SIGHUP's number, which `next` returns only when hangups are reported.
    public static let hangup = SIGHUP
    /// SIGUSR1's number: the operator's request to raise the log level (or set it back).
    public static let logLevelToggle = SIGUSR1

    public init(reportingHangups: Bool = false) throws(SystemError) {
        fd = FileDescriptor(rawValue: try retryingInterrupts("signalfd") { cshims_signalfd_termination(reportingHangups ? 1 : 0) })
    }

    deinit { fd.close() }

    /// Waits up to `timeout` for SIGINT or SIGTERM, for waits before an event loop runs (the
    /// others that arrive meanwhile are taken and dropped): the signal, or nil at the timeout.
    public func awaitTermination(within timeout: Duration) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while true {
            while let signal = try? next() {
                if signal == SIGINT || signal == SIGTERM { return signal }
            }
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { return nil }
            var entry = pollfd(fd: fd.rawValue, events: Int16(POLLIN), revents: 0)
            _ = poll(&entry, 1, Int32(min(left / .milliseconds(1) + 1, 60_000)))
        }
    }

    /// The next pending signal number, or nil when none is pending.
    public func next() throws(SystemError) -> Int32? {
        let signal = cshims_signalfd_read(fd.rawValue)
        if signal < 0 { throw SystemError("read(signalfd)", .current) }
        return signal == 0 ? nil : signal
    }
}
