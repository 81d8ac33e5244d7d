// Connecting and the one blocking request the modes need outside the loop (REV at start-up).
import DoozerClient
import DoozerSystem
import DoozerReactor
import DoozerTLS
import DoozerWire
#if canImport(Glibc)
import Glibc
#endif

func setNonBlocking(_ fd: FileDescriptor) {
    let flags = fcntl(fd.rawValue, F_GETFL)
    _ = fcntl(fd.rawValue, F_SETFL, flags | O_NONBLOCK)
}

/// Raises RLIMIT_NOFILE (soft and, as far as allowed, hard); returns the soft limit in force.
@discardableResult
func raiseFileLimit(_ wanted: UInt64) -> UInt64 {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    if limit.rlim_cur >= wanted { return UInt64(limit.rlim_cur) }
    var raised = rlimit(rlim_cur: rlim_t(wanted), rlim_max: max(limit.rlim_max, rlim_t(wanted)))
    if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) != 0 {
        raised = rlimit(rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max)
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised)
    }
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    return UInt64(limit.rlim_cur)
}

/// The TLS the bench speaks (`-tlsca`), set once in `main` before any connection; nil: plain TCP.
nonisolated(unsafe) var benchTLS: TLSContext?
/// What the nodes the bench starts get (`-tlscert`, `-tlskey`, `-tlsca`, `-peerkey`); empty: none.
nonisolated(unsafe) var serverTLSArguments: [String] = []

/// A channel over connected non-blocking socket `fd`: through TLS when the bench speaks it.
func makeChannel(_ fd: FileDescriptor, host: String, bufferSize: Int) throws -> StreamChannel {
    let tls = try benchTLS.map { context throws(TLSError) in try TLSSession(context: context, fd: fd, host: host) }
    return StreamChannel(fd: fd, inputCapacity: bufferSize, outputCapacity: bufferSize, tls: tls)
}

/// One request on a blocking connection; returns the response's rev and error code.
func blockingRequest(_ address: SocketAddress, verb: UInt64, path: String? = nil) throws -> (rev: Int64, err: Int32) {
    if let benchTLS {
        precondition(verb == V.rev && path == nil, "over TLS the bench asks only REV outside the loop")
        let connection = try DoozerConnection.dial(address.description, timeout: .seconds(2), tls: benchTLS)
        defer { connection.close() }
        return (try connection.rev(), 0)
    }
    let fd = try Socket.connect(to: address, timeout: .seconds(2))
    defer { fd.close() }
    var out = IOBuffer(capacity: 256)
    let pathBytes = Array((path ?? "").utf8)
    pathBytes.withUnsafeBytes { p in
        appendRequest(&out, tag: 0, verb: verb, path: path == nil ? nil : p, value: nil, rev: nil)
    }
    try fd.writeAll(out.readable)
    var input = IOBuffer(capacity: 4096)
    var tv = timeval(tv_sec: 2, tv_usec: 0)
    setsockopt(fd.rawValue, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    while true {
        if case .frame(let n) = Framing.scan(input.readable, maxFrame: 1 << 24) {
            let payload = UnsafeRawBufferPointer(rebasing: input.readable[4 ..< 4 + n])
            guard let r = Resp(payload) else { throw FlagError(description: "undecodable response") }
            return (r.rev, r.errCode)
        }
        let space = input.writableSpace(minimum: 1024)
        let got = Glibc.read(fd.rawValue, space.baseAddress, space.count)
        if got <= 0 { throw SystemError("read", Errno.current) }
        input.commit(got)
        _ = pathBytes.count
    }
}
