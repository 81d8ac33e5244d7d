import DoozerSystem
import DoozerTLS
import DoozerWire
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One TCP connection to one server (spec §10.1). Owns the socket and one reader thread that
/// routes responses by tag to the waiting callers. Thread-safe: any number of threads may call
/// at once; each call blocks its calling thread until its response arrives (never called from
/// a server's event loop). Tags are chosen here, never by callers. A response with no tag or an
/// unknown tag is dropped. Once a read or write fails, every outstanding call fails with that
/// error and later calls fail at once with the same error. It never reconnects (see
/// `DoozerClient`), never retries, and never sends anything the caller did not ask for.
/// Dropping the last reference closes it.
public final class DoozerConnection: @unchecked Sendable {
    let core: ConnectionCore

    /// The address it was dialled with.
    public var address: String { core.address }

    /// Connects to `address` (`host:port`), bounding the TCP handshake (and with `tls` the
    /// TLS handshake, which checks the server's certificate against the host) by `timeout`.
    /// Errors read as the original's: `dial tcp 127.0.0.1:1: connect: connection refused`,
    /// `dial tcp: address 127.0.0.1: missing port in address`; a handshake timeout is `.timeout`.
    public static func dial(_ address: String, timeout: Duration? = nil, tls: TLSContext? = nil) throws(DoozerError) -> DoozerConnection {
        let deadline = timeout.map { ContinuousClock.now.advanced(by: $0) }
        let socketAddress = try resolve(address)
        let fd: FileDescriptor
        do {
            fd = try Socket.connect(to: socketAddress, timeout: timeout)
        } catch {
            if error.errno.rawValue == ETIMEDOUT && error.call == "connect" && timeout != nil { throw .timeout }
            throw .connection("dial tcp \(socketAddress): \(error.call == "connect" ? "connect" : error.call): \(goText(error.errno))")
        }
        guard let tls else { return DoozerConnection(fd: fd, address: address) }
        do {
            let host = String(address[..<address.lastIndex(of: ":")!]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            let stream = try TLSStream(context: tls, fd: fd, host: host, address: address, deadline: deadline)
            return DoozerConnection(fd: fd, address: address, tls: stream)
        } catch {
            fd.close()
            throw error
        }
    }

    /// Wraps an already connected stream socket (tests use one end of a socketpair): blocking,
    /// or non-blocking under a `tls` stream that finished its handshake.
    init(fd: FileDescriptor, address: String, tls: TLSStream? = nil) {
        core = ConnectionCore(fd: fd, address: address, tls: tls)
        core.startReader()
    }

    /// Same, from a raw descriptor (for tests that do not import DoozerSystem).
    convenience init(rawDescriptor: Int32, address: String) {
        self.init(fd: FileDescriptor(rawValue: rawDescriptor), address: address)
    }

    deinit { core.close() }

    /// Outstanding and later calls fail with `.closed`. Idempotent.
    public func close() { core.close() }

    /// Why the connection is dead, or nil while it is usable.
    public var failure: DoozerError? { core.failure }

    static func resolve(_ address: String) throws(DoozerError) -> SocketAddress {
        let host = try host(of: address)
        do {
            return try SocketAddress.resolve(address)
        } catch {
            throw .connection("dial tcp: lookup \(host): \(error.reason)")
        }
    }

    /// The host part of a `host:port` address, or the error (in Go's words) that says why it
    /// is not one: a mistake no retry mends, unlike a failed lookup.
    package static func host(of address: String) throws(DoozerError) -> String {
        guard let colon = address.lastIndex(of: ":"), !address.hasSuffix("]") else {
            throw .connection("dial tcp: address \(address): missing port in address")
        }
        let host = String(address[..<colon])
        guard UInt16(address[address.index(after: colon)...]) != nil else {
            throw .connection("dial tcp: address \(address): invalid port")
        }
        if host.filter({ $0 == ":" }).count > 0 && !host.hasPrefix("[") {
            throw .connection("dial tcp: address \(address): too many colons in address")
        }
        return host
    }
}

/// Go's wording for the usual socket errors (lower-case strerror otherwise).
func goText(_ errno: Errno) -> String {
    switch errno.rawValue {
    case ECONNREFUSED: return "connection refused"
    case ECONNRESET: return "connection reset by peer"
    case EPIPE: return "broken pipe"
    case ETIMEDOUT: return "connection timed out"
    case EHOSTUNREACH: return "no route to host"
    case ENETUNREACH: return "network is unreachable"
    default:
        guard let text = strerror(errno.rawValue) else { return "errno \(errno.rawValue)" }
        let string = String(cString: text)
        return string.prefix(1).lowercased() + string.dropFirst()
    }
}

/// How one request ended without a response.
struct CallFailure: Error {
    var error: DoozerError
    /// The request may have reached the server (false: it was certainly not processed).
    var sent: Bool
    /// The connection is dead because of a transport failure (not a local close or a deadline).
    var broken: Bool
}

/// The shared state of a connection, referenced by its facade and its reader thread.
final class ConnectionCore: @unchecked Sendable {
    /// One waiting call. `outcome` is guarded by the core's state lock.
    final class Slot: @unchecked Sendable {
        let semaphore = DispatchSemaphore(value: 0)
        var outcome: Result<Response, CallFailure>?
    }

    struct State {
        var tags = TagAllocator()
        var pending: [Int32: Slot] = [:]
        /// Tags whose callers gave up (wait timeout): the server may still answer them, so they
        /// are not reused until that answer arrives (and is dropped).
        var abandoned: Set<Int32> = []
        var failure: DoozerError?
        var failureIsBreak = false
    }

    /// Largest response frame accepted (a GET of the largest permitted file fits easily).
    static let maxResponseFrame = 64 << 20

    let address: String
    private let fd: FileDescriptor
    /// The TLS session the bytes go through; nil for plain TCP.
    private let tls: TLSStream?
    private let state = LockedState(State())
    /// Serialises whole frames on the socket.
    private let writeLock = NSLock()
    /// Guards `fdClosed`; the reader closes the descriptor, close() only shuts it down.
    private let descriptorLock = NSLock()
    private var fdClosed = false

    init(fd: FileDescriptor, address: String, tls: TLSStream?) {
        self.fd = fd
        self.address = address
        self.tls = tls
    }

    var failure: DoozerError? { state.withLock { $0.failure } }
    var isAlive: Bool { failure == nil }

    /// Tags currently awaiting a response or abandoned (for tests).
    var tagsInUse: Set<Int32> {
        state.withLock { Set($0.pending.keys).union($0.abandoned) }
    }

    func startReader() {
        let thread = Thread { [self] in readLoop() }
        thread.name = "doozer-reader \(address)"
        thread.start()
    }

    /// Sends `request` under a fresh tag and waits for its response. At `deadline` the call is
    /// abandoned (its tag stays reserved until the server answers) and `deadlineError` thrown.
    func roundTrip(_ request: Request, deadline: ContinuousClock.Instant?,
                   deadlineError: DoozerError = .waitTimeout) throws(CallFailure) -> Response {
        let slot = Slot()
        let registered: Result<Int32, CallFailure> = state.withLock { state in
            if let failure = state.failure {
                return .failure(CallFailure(error: failure, sent: false, broken: state.failureIsBreak))
            }
            let tag = state.tags.next { state.pending[$0] != nil || state.abandoned.contains($0) }
            state.pending[tag] = slot
            return .success(tag)
        }
        let tag = try registered.get()
        var tagged = request
        tagged.tag = tag
        let frame = Framing.frame(tagged.encoded())
        if let writeError = write(frame) {
            fail(writeError, isBreak: true)
            // The frame never fully left: the server cannot have processed it.
            throw CallFailure(error: failure ?? writeError, sent: false, broken: true)
        }
        if let deadline {
            let remaining = ContinuousClock.now.duration(to: deadline)
            if slot.semaphore.wait(timeout: dispatchTime(after: remaining)) == .timedOut {
                let gaveUp = state.withLock { state -> Bool in
                    guard state.pending[tag] === slot else { return false }
                    state.pending[tag] = nil
                    state.abandoned.insert(tag)
                    return true
                }
                if gaveUp { throw CallFailure(error: deadlineError, sent: true, broken: false) }
                slot.semaphore.wait()  // the outcome was delivered meanwhile
            }
        } else {
            slot.semaphore.wait()
        }
        let outcome = state.withLock { _ in slot.outcome }
        switch outcome {
        case .success(let response)?: return response
        case .failure(let failure)?: throw failure
        case nil: throw CallFailure(error: .malformedResponse("no outcome"), sent: true, broken: true)
        }
    }

    func close() {
        fail(.closed, isBreak: false)
        descriptorLock.lock()
        if !fdClosed { _ = shutdown(fd.rawValue, Int32(SHUT_RDWR)) }
        descriptorLock.unlock()
    }

    /// Marks the connection dead (first error wins) and fails every outstanding call.
    private func fail(_ error: DoozerError, isBreak: Bool) {
        let slots: [Slot] = state.withLock { state in
            if state.failure == nil {
                state.failure = error
                state.failureIsBreak = isBreak
            }
            let failure = CallFailure(error: state.failure!, sent: true, broken: state.failureIsBreak)
            let slots = Array(state.pending.values)
            for slot in slots { slot.outcome = .failure(failure) }
            state.pending.removeAll()
            state.abandoned.removeAll()
            return slots
        }
        for slot in slots { slot.semaphore.signal() }
    }

    /// Writes a whole frame; returns the error that ended the connection, if any.
    private func write(_ frame: [UInt8]) -> DoozerError? {
        writeLock.lock()
        defer { writeLock.unlock() }
        descriptorLock.lock()
        let closed = fdClosed
        descriptorLock.unlock()
        if closed { return failure ?? .closed }
        if let failure { return failure }
        if let tls { return frame.withUnsafeBytes { tls.writeAll($0) } }
        return frame.withUnsafeBytes { buffer -> DoozerError? in
            var offset = 0
            while offset < buffer.count {
                let sent = send(fd.rawValue, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                if sent < 0 {
                    let errno = Errno.current
                    if errno == .interrupted { continue }
                    return .connection("write tcp \(address): \(goText(errno))")
                }
                offset += sent
            }
            return nil
        }
    }

    private func readLoop() {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 16)
        var start = 0
        let chunkSize = 1 << 16
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        reading: while true {
            var count: Int
            if let tls {
                switch chunk.withUnsafeMutableBytes({ tls.read(into: $0) }) {
                case .success(let n): count = n
                case .failure(let error):
                    fail(error, isBreak: true)
                    break reading
                }
            } else {
                count = chunk.withUnsafeMutableBytes { Glibc.read(fd.rawValue, $0.baseAddress, chunkSize) }
            }
            if count < 0 {
                let errno = Errno.current
                if errno == .interrupted { continue }
                fail(.connection("read tcp \(address): \(goText(errno))"), isBreak: true)
                break
            }
            if count == 0 {
                fail(.connection("EOF"), isBreak: true)
                break
            }
            buffer.append(contentsOf: chunk[0..<count])
            while true {
                let scan = buffer.withUnsafeBytes {
                    Framing.scan(UnsafeRawBufferPointer(rebasing: $0[start...]), maxFrame: Self.maxResponseFrame)
                }
                switch scan {
                case .incomplete:
                    break
                case .tooLarge(let length):
                    fail(.malformedResponse("response frame of \(length) bytes"), isBreak: true)
                    break reading
                case .frame(let payloadCount):
                    let payloadStart = start + Framing.headerSize
                    let payload = Array(buffer[payloadStart..<payloadStart + payloadCount])
                    start = payloadStart + payloadCount
                    do {
                        deliver(try Response(decoding: payload))
                    } catch {
                        fail(.malformedResponse(error.reason), isBreak: true)
                        break reading
                    }
                    continue
                }
                break
            }
            if start == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                start = 0
            } else if start > buffer.count / 2 {
                buffer.removeFirst(start)
                start = 0
            }
        }
        // Nobody writes once the connection is dead; take the write lock so no send is mid-way.
        writeLock.lock()
        descriptorLock.lock()
        fdClosed = true
        fd.close()
        descriptorLock.unlock()
        writeLock.unlock()
    }

    private func deliver(_ response: Response) {
        guard let tag = response.tag else { return }
        let slot: Slot? = state.withLock { state in
            if let slot = state.pending.removeValue(forKey: tag) {
                slot.outcome = .success(response)
                return slot
            }
            state.abandoned.remove(tag)
            return nil
        }
        slot?.semaphore.signal()
    }
}

/// A DispatchTime `remaining` from now (clamped to [0, one day]).
func dispatchTime(after remaining: Duration) -> DispatchTime {
    if remaining <= .zero { return .now() }
    let (seconds, attoseconds) = remaining.components
    let nanoseconds = min(seconds, 86_400) * 1_000_000_000 + attoseconds / 1_000_000_000
    return .now() + .nanoseconds(Int(nanoseconds))
}
