import CShims
#if canImport(Glibc)
import Glibc
#endif

extension Socket {
    /// Opens a TCP connection to `address` for a client thread, waiting at most `timeout` for
    /// the handshake (nil: as long as the kernel tries). The returned descriptor is in
    /// **blocking** mode, close-on-exec, with TCP_NODELAY set; the caller closes it.
    ///
    /// Blocks the calling thread: meant for client libraries and tools, never the event loop.
    /// A handshake that does not finish in time fails with `SystemError("connect", ETIMEDOUT)`;
    /// other failures carry the errno of the failing call (e.g. ECONNREFUSED from `connect`).
    public static func connect(to address: SocketAddress, timeout: Duration?) throws(SystemError) -> FileDescriptor {
        let deadline = timeout.map { ContinuousClock.now.advanced(by: $0) }
        let fd = FileDescriptor(rawValue: try retryingInterrupts("socket") {
            cshims_socket(address.family, Int32(SOCK_STREAM.rawValue))
        })
        do {
            try finishConnect(fd, address, deadline)
            let flags = try retryingInterrupts("fcntl(F_GETFL)") { fcntl(fd.rawValue, F_GETFL) }
            _ = try retryingInterrupts("fcntl(F_SETFL)") { fcntl(fd.rawValue, F_SETFL, flags & ~O_NONBLOCK) }
            _ = cshims_setsockopt_int(fd.rawValue, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            return fd
        } catch {
            fd.close()
            throw error
        }
    }

    private static func finishConnect(_ fd: FileDescriptor, _ address: SocketAddress,
                                      _ deadline: ContinuousClock.Instant?) throws(SystemError) {
        let started = address.withSockaddr { Glibc.connect(fd.rawValue, $0, $1) }
        if started == 0 { return }
        let errno = Errno.current
        // EINTR: the connection attempt continues asynchronously, like EINPROGRESS.
        guard errno.rawValue == EINPROGRESS || errno == .interrupted else { throw SystemError("connect", errno) }
        while true {
            var timeoutMs: Int32 = -1
            if let deadline {
                let remaining = ContinuousClock.now.duration(to: deadline)
                if remaining <= .zero { throw SystemError("connect", Errno(rawValue: ETIMEDOUT)) }
                let (seconds, attoseconds) = remaining.components
                let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1
                timeoutMs = Int32(clamping: ms)
            }
            var entry = pollfd(fd: fd.rawValue, events: Int16(POLLOUT), revents: 0)
            let ready = Glibc.poll(&entry, 1, timeoutMs)
            if ready < 0 {
                let pollErrno = Errno.current
                if pollErrno == .interrupted { continue }
                throw SystemError("poll", pollErrno)
            }
            if ready == 0 { continue }  // the deadline check above ends the loop
            try connectOutcome(fd)
            return
        }
    }

    /// Starts a TCP connection to `address` from `local` (port 0: any), for the event loop:
    /// the returned descriptor is non-blocking, close-on-exec, with TCP_NODELAY set, and
    /// `connected` is false while the handshake goes on — the socket turns writable when it
    /// ends, and `connectOutcome` then tells how. Never blocks.
    public static func startConnect(to address: SocketAddress, from local: SocketAddress) throws(SystemError)
        -> (fd: FileDescriptor, connected: Bool) {
        let fd = FileDescriptor(rawValue: try retryingInterrupts("socket") {
            cshims_socket(address.family, Int32(SOCK_STREAM.rawValue))
        })
        do throws(SystemError) {
            _ = try retryingInterrupts("bind") { local.withSockaddr { Glibc.bind(fd.rawValue, $0, $1) } }
            _ = cshims_setsockopt_int(fd.rawValue, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            if address.withSockaddr({ Glibc.connect(fd.rawValue, $0, $1) }) == 0 { return (fd, true) }
            let errno = Errno.current
            // EINTR: the connection attempt continues asynchronously, like EINPROGRESS.
            guard errno.rawValue == EINPROGRESS || errno == .interrupted else { throw SystemError("connect", errno) }
            return (fd, false)
        } catch {
            fd.close()
            throw error
        }
    }

    /// How a handshake started by a non-blocking `connect` ended, once the socket turned
    /// writable: returns when it is connected, throws the kernel's reason (SO_ERROR) when not.
    public static func connectOutcome(_ fd: FileDescriptor) throws(SystemError) {
        var socketError: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = try retryingInterrupts("getsockopt(SO_ERROR)") {
            getsockopt(fd.rawValue, SOL_SOCKET, SO_ERROR, &socketError, &length)
        }
        if socketError != 0 { throw SystemError("connect", Errno(rawValue: socketError)) }
    }
}
