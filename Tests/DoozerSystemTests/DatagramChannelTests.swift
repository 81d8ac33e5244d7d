import DoozerReactor
import DoozerSystem
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class UDPSocketTests: XCTestCase {
    func testBindsToAKernelChosenPort() throws {
        let fd = try Socket.bindUDP(try SocketAddress.resolve("127.0.0.1:0"), receiveBuffer: 1 << 20, sendBuffer: 1 << 20)
        defer { fd.close() }
        let bound = try Socket.localAddress(fd)
        XCTAssertEqual(bound.host, "127.0.0.1")
        XCTAssertNotEqual(bound.port, 0)
    }

    func testBindingABusyPortCarriesTheErrno() throws {
        let first = try Socket.bindUDP(try SocketAddress.resolve("127.0.0.1:0"), receiveBuffer: 0, sendBuffer: 0)
        defer { first.close() }
        XCTAssertThrowsError(try Socket.bindUDP(try Socket.localAddress(first), receiveBuffer: 0, sendBuffer: 0)) { error in
            XCTAssertEqual((error as? SystemError)?.call, "bind")
            XCTAssertEqual((error as? SystemError)?.errno, .addressInUse)
        }
    }
}

final class DatagramChannelTests: XCTestCase {
    private let header: [UInt8] = Array("cluster1".utf8)

    // ---- receiving and framing ---------------------------------------------------------------

    func testOneMessageMakesTheRoundTrip() throws {
        let (sender, receiver) = (try channel(), try channel())
        XCTAssertEqual(append(Array("hello".utf8), from: sender, to: receiver), .queued)
        XCTAssertEqual(sender.pendingDatagrams, 1)
        XCTAssertEqual(try sender.flush(), .init(sent: 1, dropped: 0))
        XCTAssertEqual(sender.pendingDatagrams, 0)

        let datagrams = try receive(count: 1, on: receiver)
        XCTAssertEqual(datagrams.first?.from, try Socket.localAddress(sender.fd))
        XCTAssertEqual(datagrams.first.map { Array($0.bytes.prefix(header.count)) }, header)
        XCTAssertEqual(messages(in: datagrams, on: receiver), [Array("hello".utf8)])
        XCTAssertEqual(sender.stats.datagramsSent, 1)
        XCTAssertEqual(sender.stats.bytesSent, header.count + 4 + 5)
        XCTAssertEqual(receiver.stats.datagramsReceived, 1)
        XCTAssertEqual(receiver.stats.bytesReceived, header.count + 4 + 5)
    }

    func testManySmallMessagesToOneDestinationCoalesce() throws {
        let (sender, receiver) = (try channel(), try channel())
        let sent = (0..<1000).map { i in [UInt8](repeating: UInt8(truncatingIfNeeded: i), count: 64) }
        for message in sent { XCTAssertEqual(append(message, from: sender, to: receiver), .queued) }
        XCTAssertEqual(try sender.flush(), .init(sent: 2, dropped: 0))   // 1000 × 68 bytes > 64 KiB
        XCTAssertEqual(sender.stats.sendCalls, 1)
        XCTAssertEqual(sender.stats.messagesQueued, 1000)

        XCTAssertEqual(messages(in: try receive(count: 2, on: receiver), on: receiver), sent)
        XCTAssertEqual(receiver.stats.droppedMalformed, 0)
    }

    func testDestinationsNeverShareADatagram() throws {
        let sender = try channel()
        let receivers = [try channel(), try channel()]
        for i in 0..<200 {
            XCTAssertEqual(append([UInt8(i % 2), UInt8(i / 2)], from: sender, to: receivers[i % 2]), .queued)
        }
        XCTAssertEqual(try sender.flush(), .init(sent: 2, dropped: 0))
        for (index, receiver) in receivers.enumerated() {
            let got = messages(in: try receive(count: 1, on: receiver), on: receiver)
            XCTAssertEqual(got, (0..<100).map { [UInt8(index), UInt8($0)] })
        }
    }

    func testTheOldestOpenDatagramIsClosedWhenTheTableIsFull() throws {
        let sender = try channel(maxOpenDatagrams: 1)
        let receivers = [try channel(), try channel()]
        for i in 0..<4 { XCTAssertEqual(append([UInt8(i)], from: sender, to: receivers[i % 2]), .queued) }
        XCTAssertEqual(try sender.flush(), .init(sent: 4, dropped: 0))
        XCTAssertEqual(messages(in: try receive(count: 2, on: receivers[0]), on: receivers[0]), [[0], [2]])
        XCTAssertEqual(messages(in: try receive(count: 2, on: receivers[1]), on: receivers[1]), [[1], [3]])
    }

    func testTheLargestMessageTravelsAloneAndALargerOneIsTooLarge() throws {
        let (sender, receiver) = (try channel(), try channel())
        let largest = DatagramChannel.maxUDPPayload - header.count - 4
        let small = [UInt8](repeating: 1, count: 600)
        let big = (0..<65_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        XCTAssertEqual(append(small, from: sender, to: receiver), .queued)
        XCTAssertEqual(append(big, from: sender, to: receiver), .queued)   // too big to join: a datagram of its own
        XCTAssertEqual(append([UInt8](repeating: 9, count: largest + 1), from: sender, to: receiver), .tooLarge)
        XCTAssertEqual(try sender.flush(), .init(sent: 2, dropped: 0))
        XCTAssertEqual(messages(in: try receive(count: 2, on: receiver), on: receiver), [small, big])

        let exact = [UInt8](repeating: 5, count: largest)
        XCTAssertEqual(append(exact, from: sender, to: receiver), .queued)
        XCTAssertEqual(try sender.flush(), .init(sent: 1, dropped: 0))
        let datagrams = try receive(count: 1, on: receiver)
        XCTAssertEqual(datagrams.first?.bytes.count, DatagramChannel.maxUDPPayload)
        XCTAssertEqual(messages(in: datagrams, on: receiver), [exact])
    }

    func testTruncatedDatagramsAreDroppedAndCounted() throws {
        let sender = try channel()
        let receiver = try channel(maxDatagram: 1000)
        XCTAssertEqual(append([UInt8](repeating: 1, count: 2000), from: sender, to: receiver), .queued)
        try sender.flush()
        XCTAssertEqual(append([2], from: sender, to: receiver), .queued)
        try sender.flush()
        XCTAssertEqual(messages(in: try receive(count: 1, on: receiver), on: receiver), [[2]])
        XCTAssertEqual(receiver.stats.droppedTruncated, 1)
        XCTAssertEqual(receiver.stats.datagramsReceived, 1)
    }

    func testForgedDatagramsAreReportedMalformed() throws {
        let receiver = try channel()
        let forger = try Socket.bindUDP(try SocketAddress.resolve("127.0.0.1:0"), receiveBuffer: 0, sendBuffer: 0)
        defer { forger.close() }
        let forged: [[UInt8]] = [
            (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 151 &+ 89) },  // arbitrary bytes
            header + [0, 0, 0, 9, 1, 2, 3],                                   // length past the end
            header + [0, 0, 0, 1, 7, 0, 0],                                   // a partial length prefix
            Array(header.prefix(5)),                                          // shorter than the header
            [],                                                               // empty
            header + [0, 0, 0, 2, 4, 4, 0, 0, 0, 0],                          // well formed: [4, 4], []
        ]
        for bytes in forged { try sendRaw(bytes, from: forger, to: receiver) }

        let got = messages(in: try receive(count: forged.count, on: receiver), on: receiver)
        XCTAssertEqual(got, [[4, 4], []])
        XCTAssertEqual(receiver.stats.droppedMalformed, 5)
    }

    func testFramingCheckRejectsEveryCorruptionWithoutDeliveringAnything() {
        let valid: [UInt8] = [0xAA, 0xBB] + [0, 0, 0, 0] + [0, 0, 0, 1, 42] + [0, 0, 0, 3, 1, 2, 3]
        XCTAssertEqual(framed(valid, headerSize: 2), [[], [42], [1, 2, 3]])
        // Cut anywhere inside a frame: malformed, nothing delivered.
        for cut in 0..<valid.count where ![2, 6, 11].contains(cut) {
            XCTAssertNil(framed(Array(valid.prefix(cut)), headerSize: 2), "cut at \(cut)")
        }
        // Any other value in a length byte breaks the framing the same way.
        for position in [2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14] {
            for value: UInt8 in [1, 2, 4, 0x7F, 0x80, 0xFF] where value != valid[position] {
                var corrupt = valid
                corrupt[position] = value
                XCTAssertNil(framed(corrupt, headerSize: 2), "byte \(position) = \(value)")
            }
        }
        XCTAssertNil(framed(valid, headerSize: valid.count + 1))
        XCTAssertNil(framed(valid, headerSize: -1))
        XCTAssertEqual(framed(valid, headerSize: valid.count), [])
    }

    func testReceiveRespectsItsBudget() throws {
        let sender = try channel()
        let receiver = try channel(receiveSlots: 2)
        for i in 0..<10 {
            XCTAssertEqual(append([UInt8(i)], from: sender, to: receiver), .queued)
            try sender.flush()
        }
        var got: [[UInt8]] = []
        var calls = 0
        let epoll = try readiness(of: receiver)
        while got.count < 10 && calls < 20 {
            _ = try epoll.wait(timeoutMilliseconds: 1000)
            let taken = try receiver.receive(budget: 3) { _, datagram in
                receiver.messages(in: datagram, headerSize: header.count) { got.append(Array($0)) }
            }
            XCTAssertLessThanOrEqual(taken, 3)
            calls += 1
        }
        XCTAssertEqual(got, (0..<10).map { [UInt8($0)] })
        XCTAssertGreaterThanOrEqual(calls, 4)
    }

    // ---- sending -----------------------------------------------------------------------------

    func testAFullOutboxDropsAndCountsUntilTheNextFlush() throws {
        let sender = try channel(sendSlots: 2)
        let receivers = [try channel(), try channel(), try channel()]
        XCTAssertEqual(append([0], from: sender, to: receivers[0]), .queued)
        XCTAssertEqual(append([1], from: sender, to: receivers[1]), .queued)
        XCTAssertEqual(append([2], from: sender, to: receivers[2]), .full)
        XCTAssertEqual(append([3], from: sender, to: receivers[0]), .queued)   // the open one has room
        XCTAssertEqual(sender.stats.droppedOutboxFull, 1)
        XCTAssertEqual(try sender.flush(), .init(sent: 2, dropped: 0))
        XCTAssertEqual(append([4], from: sender, to: receivers[2]), .queued)
        XCTAssertEqual(try sender.flush(), .init(sent: 1, dropped: 0))

        XCTAssertEqual(messages(in: try receive(count: 1, on: receivers[0]), on: receivers[0]), [[0], [3]])
        XCTAssertEqual(messages(in: try receive(count: 1, on: receivers[2]), on: receivers[2]), [[4]])
    }

    func testARefusedDatagramIsSkippedAndTheRestAreSent() throws {
        let sender = try channel()
        let receivers = [try channel(), try channel()]
        let unusable = try SocketAddress.resolve("[::1]:9")   // IPv6, on an IPv4 socket
        XCTAssertEqual(append([0], from: sender, to: receivers[0]), .queued)
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        XCTAssertEqual(sender.append(empty, to: unusable, header: empty), .queued)
        XCTAssertEqual(append([1], from: sender, to: receivers[1]), .queued)
        XCTAssertEqual(try sender.flush(), .init(sent: 2, dropped: 1))
        XCTAssertEqual(sender.stats.droppedSendErrors, 1)
        XCTAssertEqual(messages(in: try receive(count: 1, on: receivers[0]), on: receivers[0]), [[0]])
        XCTAssertEqual(messages(in: try receive(count: 1, on: receivers[1]), on: receivers[1]), [[1]])
    }

    func testAnUnusableDescriptorThrowsAndEmptiesTheOutbox() throws {
        let broken = DatagramChannel(fd: FileDescriptor(rawValue: -1), receiveSlots: 1, sendSlots: 1)
        let receiver = try channel()
        XCTAssertEqual(append([0], from: broken, to: receiver), .queued)
        XCTAssertThrowsError(try broken.flush()) { error in
            XCTAssertEqual((error as? SystemError)?.call, "sendmmsg")
            XCTAssertEqual((error as? SystemError)?.errno, Errno(rawValue: EBADF))
        }
        XCTAssertEqual(broken.pendingDatagrams, 0)
        XCTAssertThrowsError(try broken.receive(budget: 1) { _, _ in XCTFail("nothing to receive") })
    }

    // ---- the event loop ----------------------------------------------------------------------

    func testServesAnEchoUnderTheEventLoop() throws {
        let (client, server) = (try channel(), try channel())
        let loop = try EventLoop()
        let echo = Echo(channel: server, loop: loop, header: header, until: 300)
        try loop.register(server.fd, interest: .readable, token: 1)
        for i in 0..<300 { XCTAssertEqual(append([UInt8(truncatingIfNeeded: i)], from: client, to: server), .queued) }
        try client.flush()
        loop.schedule(after: 5_000_000_000, timer: 0)   // a bound on the test, not a wait
        try loop.run(echo)
        XCTAssertEqual(echo.echoed, 300)
        XCTAssertEqual(server.stats.sendCalls, 1)
        XCTAssertEqual(messages(in: try receive(count: 1, on: client), on: client).count, 300)
    }

    // ---- helpers -----------------------------------------------------------------------------

    private func channel(receiveSlots: Int = 8, sendSlots: Int = 8, maxDatagram: Int = DatagramChannel.maxUDPPayload,
                         maxOpenDatagrams: Int = 4) throws -> DatagramChannel {
        let fd = try Socket.bindUDP(try SocketAddress.resolve("127.0.0.1:0"), receiveBuffer: 1 << 21, sendBuffer: 1 << 21)
        return DatagramChannel(fd: fd, receiveSlots: receiveSlots, sendSlots: sendSlots,
                               maxDatagram: maxDatagram, maxOpenDatagrams: maxOpenDatagrams)
    }

    private func append(_ message: [UInt8], from sender: DatagramChannel, to receiver: DatagramChannel) -> DatagramChannel.AppendResult {
        let destination = try! Socket.localAddress(receiver.fd)
        return message.withUnsafeBytes { bytes in header.withUnsafeBytes { sender.append(bytes, to: destination, header: $0) } }
    }

    private func readiness(of channel: DatagramChannel) throws -> Epoll {
        let epoll = try Epoll(capacity: 1)
        try epoll.add(channel.fd, .readable, token: 0)
        return epoll
    }

    /// Receives until `count` datagrams arrived, waiting on epoll between attempts (bounded).
    private func receive(count: Int, on channel: DatagramChannel) throws -> [(from: SocketAddress, bytes: [UInt8])] {
        let epoll = try readiness(of: channel)
        var datagrams: [(from: SocketAddress, bytes: [UInt8])] = []
        var attempts = 0
        while datagrams.count < count && attempts < 10 {
            attempts += 1
            _ = try epoll.wait(timeoutMilliseconds: 1000)
            try channel.receive(budget: 64) { datagrams.append(($0, Array($1))) }
        }
        XCTAssertEqual(datagrams.count, count, "datagrams received")
        return datagrams
    }

    /// The messages of `datagrams`, in order, skipping malformed datagrams as the channel counts them.
    private func messages(in datagrams: [(from: SocketAddress, bytes: [UInt8])], on channel: DatagramChannel) -> [[UInt8]] {
        var messages: [[UInt8]] = []
        for datagram in datagrams {
            datagram.bytes.withUnsafeBytes { bytes in
                _ = channel.messages(in: bytes, headerSize: header.count) { messages.append(Array($0)) }
            }
        }
        return messages
    }

    /// The messages of `bytes`, or nil when `forEachMessage` finds the framing malformed (it
    /// must then deliver none).
    private func framed(_ bytes: [UInt8], headerSize: Int) -> [[UInt8]]? {
        var messages: [[UInt8]] = []
        let wellFormed = bytes.withUnsafeBytes { raw in
            DatagramChannel.forEachMessage(in: raw, headerSize: headerSize) { messages.append(Array($0)) }
        }
        if !wellFormed { XCTAssertEqual(messages, [], "a malformed datagram delivered messages") }
        return wellFormed ? messages : nil
    }

    private func sendRaw(_ bytes: [UInt8], from fd: FileDescriptor, to receiver: DatagramChannel) throws {
        let destination = try Socket.localAddress(receiver.fd)
        let sent = bytes.withUnsafeBytes { raw in
            destination.withSockaddr { sendto(fd.rawValue, raw.baseAddress, raw.count, 0, $0, $1) }
        }
        XCTAssertEqual(sent, bytes.count)
    }
}

/// Echoes every message back to its sender, flushing once per iteration, until `until` are echoed.
private final class Echo: EventLoopHandler {
    let channel: DatagramChannel
    let loop: EventLoop
    let header: [UInt8]
    let until: Int
    var echoed = 0

    init(channel: DatagramChannel, loop: EventLoop, header: [UInt8], until: Int) {
        (self.channel, self.loop, self.header, self.until) = (channel, loop, header, until)
    }

    func ready(token: UInt64, events: IOEvents) {
        _ = try? channel.receive(budget: 64) { from, datagram in
            channel.messages(in: datagram, headerSize: header.count) { message in
                _ = header.withUnsafeBytes { channel.append(message, to: from, header: $0) }
                echoed += 1
            }
        }
    }

    func timerFired(_ timer: UInt64) { loop.stop() }

    func iterationDone() {
        _ = try? channel.flush()
        if echoed >= until { loop.stop() }
    }
}
