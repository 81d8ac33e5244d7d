import CShims
#if canImport(Glibc)
import Glibc
#endif

/// A POSIX error number. Only a value: it never reads `errno` by itself.
public struct Errno: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The calling thread's current `errno`.
    public static var current: Errno { Errno(rawValue: cshims_errno()) }

    public static let interrupted = Errno(rawValue: EINTR)
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    public static let addressInUse = Errno(rawValue: EADDRINUSE)

    /// Out of descriptors or memory: retrying at once would fail the same way.
    public var isResourceExhaustion: Bool {
        switch rawValue {
        case EMFILE, ENFILE, ENOBUFS, ENOMEM: true
        default: false
        }
    }

    /// A bad descriptor or bad memory (EBADF, ENOTSOCK, EFAULT): a bug in the caller, not a
    /// condition of the network; every later call on that descriptor fails the same way.
    public var isMisuse: Bool {
        switch rawValue {
        case EBADF, ENOTSOCK, EFAULT: true
        default: false
        }
    }

    public var description: String {
        guard let text = strerror(rawValue) else { return "errno \(rawValue)" }
        return "\(String(cString: text)) (errno \(rawValue))"
    }
}

/// A failed system call: the call's name and the errno it left.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let errno: Errno
    public init(_ call: String, _ errno: Errno) {
        self.call = call
        self.errno = errno
    }
    public var description: String { "\(call): \(errno)" }
}

/// What a non-blocking call did: finished with a value, or would have had to wait.
public enum IOResult<Value> {
    case done(Value)
    case wouldBlock
}

/// Runs a call that reports failure as -1 + errno, retrying it on EINTR. The only place
/// in the project that retries EINTR.
@inlinable
public func retryingInterrupts<T: BinaryInteger>(_ call: String, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let errno = Errno.current
        if errno != .interrupted { throw SystemError(call, errno) }
    }
}

/// As `retryingInterrupts`, but EAGAIN/EWOULDBLOCK come back as `.wouldBlock`, not an error.
@inlinable
public func nonBlocking<T: BinaryInteger>(_ call: String, _ body: () -> T) throws(SystemError) -> IOResult<T> {
    while true {
        let result = body()
        if result >= 0 { return .done(result) }
        let errno = Errno.current
        if errno == .wouldBlock || errno.rawValue == EWOULDBLOCK { return .wouldBlock }
        if errno != .interrupted { throw SystemError(call, errno) }
    }
}
