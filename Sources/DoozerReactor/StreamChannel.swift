import DoozerSystem
import DoozerTLS
#if canImport(Glibc)
import Glibc
#endif

/// One non-blocking stream socket with its preallocated input and output buffers. It moves
/// bytes between the kernel and the buffers and tracks the epoll interest it needs; what the
/// bytes mean is the owner's business. Output is the `output` buffer, where small writes are
/// coalesced, interleaved with large byte arrays queued by reference (`appendShared`), so a
/// body sent to many connections is held once, not copied into each. With a `tls` session the
/// same buffers hold plaintext and the session encrypts on the way out and decrypts on the way
/// in (the handshake runs inside the first reads and writes). Never blocks and never closes its
/// descriptor: the owner unregisters and closes `fd`.
public struct StreamChannel: ~Copyable {
    public let fd: FileDescriptor
    public var input: IOBuffer
    /// Output bytes copied in; see `appendShared` for bytes sent by reference.
    public var output: IOBuffer
    /// The interest currently registered with the loop.
    public var interest: IOEvents = .readable
    /// The TLS session the bytes go through, or nil for plain TCP.
    public let tls: TLSSession?
    /// The TLS session must write (or read) before it can go on, whatever the buffers hold.
    public private(set) var tlsWants: IOEvents = []
    /// Arrays queued by `appendShared`, oldest first, from `sharedHead` on.
    private var shared: [SharedSegment] = []
    private var sharedHead = 0
    /// Unsent bytes of the queued arrays.
    @usableFromInline var sharedCount = 0
    /// Bytes of `output` consumed since the channel opened: the position in the buffered
    /// stream that the next unsent buffered byte has, against which segments are placed.
    private var bufferedSent = 0

    /// An array sent by reference after the first `position` bytes (counted over the
    /// channel's life) written to `output`.
    private struct SharedSegment {
        let bytes: [UInt8]
        var sent: Int
        let position: Int
    }

    /// Regions one `writev` may gather (Linux allows 1024; a few dozen fill a send buffer).
    static let maxVectors = 64

    public init(fd: FileDescriptor, inputCapacity: Int, outputCapacity: Int, tls: TLSSession? = nil) {
        self.fd = fd
        self.tls = tls
        input = IOBuffer(capacity: inputCapacity)
        output = IOBuffer(capacity: outputCapacity)
    }

    /// Unsent output bytes: buffered and queued by reference.
    @inlinable public var pendingOutputCount: Int { output.readableCount &+ sharedCount }
    @inlinable public var hasPendingOutput: Bool { !output.isEmpty || sharedCount != 0 }
    /// Input held inside the TLS session (records it read ahead, bytes it decrypted): readiness
    /// of the socket does not report it, so an owner that stopped reading before it was drained
    /// must come back for it.
    public var hasHiddenInput: Bool { tls?.hasPendingInput ?? false }

    /// Queues `bytes` to be sent after everything written to `output` so far, without copying
    /// them: the channel keeps a reference until they are sent.
    public mutating func appendShared(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        shared.append(SharedSegment(bytes: bytes, sent: 0, position: bufferedSent &+ output.readableCount))
        sharedCount &+= bytes.count
    }

    public enum ReadOutcome {
        /// `count` bytes arrived; `filled` says they filled the free space, so the kernel may
        /// hold more. After a short read the socket was empty a moment ago; with
        /// level-triggered epoll anything arriving later is reported again, so the next read
        /// can wait for that report instead of costing an EAGAIN.
        case bytes(Int, filled: Bool)
        case wouldBlock
        case endOfStream
        case failed(ChannelError)
    }

    /// One read into the input buffer's free space, made at least `minimumSpace` large.
    public mutating func readOnce(minimumSpace: Int) -> ReadOutcome {
        let space = input.writableSpace(minimum: minimumSpace)
        if let tls { return readTLS(tls, into: space) }
        do {
            switch try fd.read(into: space) {
            case .wouldBlock: return .wouldBlock
            case .done(0): return .endOfStream
            case .done(let n):
                input.commit(n)
                return .bytes(n, filled: n == space.count)
            }
        } catch {
            return .failed(.system(error))
        }
    }

    private mutating func readTLS(_ tls: TLSSession, into space: UnsafeMutableRawBufferPointer) -> ReadOutcome {
        tlsWants = []
        let outcome = tls.read(into: space)
        switch outcome {
        case .done(let n):
            input.commit(n)
            return .bytes(n, filled: n == space.count || tls.hasPendingInput)
        case .wantRead: return .wouldBlock
        case .wantWrite:
            tlsWants = .writable
            return .wouldBlock
        case .closed: return .endOfStream
        case .failed, .system: return .failed(Self.channelError(outcome, call: "read"))
        }
    }

    /// The error of a TLS call that failed (`.failed` or `.system`), as a channel reports it.
    private static func channelError(_ outcome: TLSSession.Outcome, call: String) -> ChannelError {
        switch outcome {
        case .system(let errno): return .system(SystemError(call, errno))
        case .failed(let reason): return .tls(reason)
        default: preconditionFailure("\(outcome) is not a failure")
        }
    }

    public enum FlushOutcome {
        /// Everything buffered went to the kernel.
        case drained
        /// The kernel's send buffer is full; wait for writability.
        case pending
        case failed(ChannelError)
    }

    /// Writes pending output until it is drained or the kernel pushes back: with `write`
    /// while only buffered bytes are pending, with `writev` once arrays are queued too.
    public mutating func flush() -> FlushOutcome {
        if let tls { return flushTLS(tls) }
        do {
            while sharedCount == 0 {
                if output.isEmpty { return .drained }
                switch try fd.write(output.readable) {
                case .wouldBlock: return .pending
                case .done(let n): consumeBuffered(n)
                }
            }
            while hasPendingOutput {
                switch try writeGathered() {
                case .wouldBlock: return .pending
                case .done(let n): advance(by: n)
                }
            }
            return .drained
        } catch {
            return .failed(.system(error))
        }
    }

    /// `flush` through the TLS session: the handshake first if it has not finished, then the
    /// pending regions one `SSL_write` each, in order (a retried write starts at the same byte).
    private mutating func flushTLS(_ tls: TLSSession) -> FlushOutcome {
        tlsWants = []
        if !tls.isHandshakeDone {
            let handshake = tls.handshake()
            switch handshake {
            case .done: break
            case .wantRead:
                tlsWants = .readable
                return hasPendingOutput ? .pending : .drained
            case .wantWrite:
                tlsWants = .writable
                return .pending
            case .closed: return .failed(.tls("the peer closed the connection during the TLS handshake"))
            case .failed, .system: return .failed(Self.channelError(handshake, call: "write"))
            }
        }
        while hasPendingOutput {
            let outcome: TLSSession.Outcome
            if sharedHead < shared.count, shared[sharedHead].position == bufferedSent {
                let segment = shared[sharedHead]
                outcome = segment.bytes.withUnsafeBytes { tls.write(UnsafeRawBufferPointer(rebasing: $0[segment.sent...])) }
            } else {
                let gap = sharedHead < shared.count ? shared[sharedHead].position &- bufferedSent : output.readableCount
                outcome = tls.write(UnsafeRawBufferPointer(rebasing: output.readable[..<gap]))
            }
            switch outcome {
            case .done(let n): advance(by: n)
            case .wantWrite: return .pending
            case .wantRead:
                tlsWants = .readable
                return .pending
            case .closed: return .failed(.tls("the peer closed the TLS session"))
            case .failed, .system: return .failed(Self.channelError(outcome, call: "write"))
            }
        }
        return .drained
    }

    private mutating func consumeBuffered(_ count: Int) {
        output.consume(count)
        bufferedSent &+= count
    }

    /// One `writev` of the pending output, in order: buffered bytes up to each queued array,
    /// the array, and so on, up to `maxVectors` regions.
    private func writeGathered() throws(SystemError) -> IOResult<Int> {
        let buffered = output.readable
        return try withUnsafeTemporaryAllocation(of: iovec.self, capacity: StreamChannel.maxVectors) {
            vectors throws(SystemError) -> IOResult<Int> in
            var count = 0
            var offset = 0   // into `buffered`
            var index = sharedHead
            // Pairs of (buffered gap, array); the last region may be the buffered tail.
            while index < shared.count && count &+ 2 <= StreamChannel.maxVectors {
                let segment = shared[index]
                let gap = segment.position &- bufferedSent &- offset
                if gap > 0 {
                    vectors[count] = iovec(iov_base: UnsafeMutableRawPointer(mutating: buffered.baseAddress! + offset),
                                           iov_len: gap)
                    count &+= 1
                    offset &+= gap
                }
                // The address outlives this closure but not the array's storage: `shared`
                // holds the array until `advance` has seen every byte of it written.
                segment.bytes.withUnsafeBytes { bytes in
                    vectors[count] = iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress! + segment.sent),
                                           iov_len: bytes.count &- segment.sent)
                }
                count &+= 1
                index &+= 1
            }
            if index == shared.count && offset < buffered.count && count < StreamChannel.maxVectors {
                vectors[count] = iovec(iov_base: UnsafeMutableRawPointer(mutating: buffered.baseAddress! + offset),
                                       iov_len: buffered.count &- offset)
                count &+= 1
            }
            return try fd.write(vectors: UnsafeBufferPointer(rebasing: vectors[0..<count]))
        }
    }

    /// Marks `count` bytes written by `writeGathered` as sent, in the order it gathered them.
    private mutating func advance(by count: Int) {
        var left = count
        while left > 0 {
            if sharedHead < shared.count {
                let gap = shared[sharedHead].position &- bufferedSent
                if gap > 0 {
                    let taken = min(gap, left)
                    consumeBuffered(taken)
                    left &-= taken
                    continue
                }
                let rest = shared[sharedHead].bytes.count &- shared[sharedHead].sent
                let taken = min(rest, left)
                shared[sharedHead].sent &+= taken
                sharedCount &-= taken
                left &-= taken
                if taken == rest { popSegment() }
            } else {
                consumeBuffered(left)
                left = 0
            }
        }
    }

    /// Drops the fully sent head segment, compacting the queue once half of it is spent.
    private mutating func popSegment() {
        sharedHead &+= 1
        if sharedHead == shared.count {
            shared.removeAll(keepingCapacity: shared.count <= 64)
            sharedHead = 0
        } else if sharedHead >= 64 && sharedHead &* 2 >= shared.count {
            shared.removeFirst(sharedHead)
            sharedHead = 0
        }
    }
}

/// Why a channel's read or flush failed: the socket, or the TLS session over it.
public enum ChannelError: Error, CustomStringConvertible {
    case system(SystemError)
    case tls(String)

    public var description: String {
        switch self {
        case .system(let error): return "\(error)"
        case .tls(let reason): return "TLS: \(reason)"
        }
    }
}
