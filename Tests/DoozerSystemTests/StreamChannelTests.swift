import DoozerReactor
import DoozerSystem
import Glibc
import XCTest
import DoozerTestSupport

/// `StreamChannel` output: buffered bytes and arrays queued by reference leave in the order
/// they were queued, across partial writes.
final class StreamChannelTests: XCTestCase {
    /// A connected pair of non-blocking stream sockets with small kernel buffers.
    private func socketPair() throws -> (FileDescriptor, FileDescriptor) {
        var fds: [Int32] = [0, 0]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, type, 0, &fds) == 0 else { throw SystemError("socketpair", .current) }
        var size: Int32 = 4096
        for fd in fds { _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        return (FileDescriptor(rawValue: fds[0]), FileDescriptor(rawValue: fds[1]))
    }

    private func drain(_ fd: FileDescriptor, into received: inout [UInt8]) throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let result = try chunk.withUnsafeMutableBytes { try fd.read(into: $0) }
            guard case .done(let n) = result, n > 0 else { return }
            received += chunk[0..<n]
        }
    }

    func testInterleavedOutputArrivesInOrderAcrossPartialWrites() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var random = SplitMix64(seed: seed)
        let (local, remote) = try socketPair()
        defer { local.close(); remote.close() }
        var channel = StreamChannel(fd: local, inputCapacity: 64, outputCapacity: 64)
        var expected: [UInt8] = []
        var received: [UInt8] = []
        for round in 0..<300 {
            let count = Int(random.next() % 9000)
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &+ round) }
            if random.next() % 2 == 0 {
                bytes.withUnsafeBytes { channel.output.append($0) }
            } else {
                channel.appendShared(bytes)
            }
            expected += bytes
            if random.next() % 3 == 0 {
                if case .failed(let error) = channel.flush() { return XCTFail("flush: \(error) (seed \(seed))") }
                try drain(remote, into: &received)
            }
        }
        while channel.hasPendingOutput {
            if case .failed(let error) = channel.flush() { return XCTFail("flush: \(error) (seed \(seed))") }
            try drain(remote, into: &received)
        }
        try drain(remote, into: &received)
        XCTAssertEqual(channel.pendingOutputCount, 0, "seed \(seed)")
        XCTAssertEqual(received.count, expected.count, "seed \(seed)")
        XCTAssertTrue(received == expected, "bytes out of order (seed \(seed))")
    }
}

