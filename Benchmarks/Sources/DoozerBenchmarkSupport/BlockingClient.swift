import DoozerSystem
import DoozerWire
#if canImport(Glibc)
import Glibc
#endif

/// Request frames encoded once, back to back, in memory that lives as long as the process:
/// sending them is a single `write` with no encoding and no allocation.
public struct RequestFrames: @unchecked Sendable {
    public let bytes: UnsafeRawBufferPointer
    public let count: Int

    public init(_ requests: [Request]) {
        let encoded = requests.flatMap { Framing.frame($0.encoded()) }
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: encoded.count, alignment: 16)
        storage.copyBytes(from: encoded)
        bytes = UnsafeRawBufferPointer(storage)
        count = requests.count
    }
}

public struct ClientError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

/// A plain blocking TCP connection to a doozer node, for measuring the server: after `init`
/// nothing it does allocates. Responses land in one buffer allocated up front.
public final class BlockingClient {
    public let fd: Int32
    private let buffer: UnsafeMutableRawPointer
    private let capacity: Int

    public init(connectingTo address: SocketAddress, receiveCapacity: Int = 1 << 20) throws {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw ClientError(description: "socket: errno \(errno)") }
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let status = address.withSockaddr { connect(fd, $0, $1) }
        if status != 0 {
            let error = errno
            close(fd)
            throw ClientError(description: "connect to \(address): errno \(error)")
        }
        self.fd = fd
        capacity = receiveCapacity
        buffer = .allocate(byteCount: receiveCapacity, alignment: 16)
    }

    deinit {
        close(fd)
        buffer.deallocate()
    }

    /// Writes `frames` in one go, then reads until one response per request has arrived.
    /// Returns the response bytes (frames, headers included), valid until the next call.
    @inline(__always)
    public func exchange(_ frames: RequestFrames) -> UnsafeRawBufferPointer {
        send(frames.bytes)
        return receive(frames: frames.count)
    }

    public func send(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let written = write(fd, bytes.baseAddress! + offset, bytes.count &- offset)
            if written < 0 {
                if errno == EINTR { continue }
                fatalError("write to doozerd failed: errno \(errno)")
            }
            offset &+= written
        }
    }

    /// Reads exactly `expected` whole frames; more bytes than that is a protocol error here,
    /// since the node only ever answers our requests.
    public func receive(frames expected: Int) -> UnsafeRawBufferPointer {
        var filled = 0
        var scanned = 0
        var frames = 0
        while true {
            while frames < expected, filled &- scanned >= Framing.headerSize {
                let length = Int(UInt32(bigEndian: (buffer + scanned).loadUnaligned(as: UInt32.self)))
                guard filled &- scanned &- Framing.headerSize >= length else { break }
                scanned &+= Framing.headerSize &+ length
                frames &+= 1
            }
            if frames == expected { break }
            if filled == capacity { fatalError("response larger than the \(capacity)-byte receive buffer") }
            let received = read(fd, buffer + filled, capacity &- filled)
            if received < 0 {
                if errno == EINTR { continue }
                fatalError("read from doozerd failed: errno \(errno)")
            }
            if received == 0 { fatalError("doozerd closed the connection") }
            filled &+= received
        }
        precondition(filled == scanned, "doozerd sent bytes beyond the expected responses")
        return UnsafeRawBufferPointer(start: buffer, count: filled)
    }

    /// Sends `frames` and decodes the answers (allocates: for checks outside measurements).
    public func roundTrip(_ frames: RequestFrames) throws -> [Response] {
        try Self.decode(exchange(frames))
    }

    /// Splits a run of response frames and decodes each one.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> [Response] {
        var responses: [Response] = []
        var rest = bytes
        while !rest.isEmpty {
            guard case .frame(let count) = Framing.scan(rest, maxFrame: Framing.defaultMaxFrame) else {
                throw ClientError(description: "truncated response frame")
            }
            let payload = Array(rest[Framing.headerSize..<(Framing.headerSize + count)])
            responses.append(try Response(decoding: payload))
            rest = UnsafeRawBufferPointer(rebasing: rest[(Framing.headerSize + count)...])
        }
        return responses
    }
}
