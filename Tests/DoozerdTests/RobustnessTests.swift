// Bad input and load against a real process: truncated frames, pipelining, slow readers,
// abandoned WAITs (B13), many connections, and -maxframe (B1).

import DoozerWire
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A flag and a counter shared with a writer thread.
private final class WriterState: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private var sent = 0
    private var failure: String?
    let done = DispatchSemaphore(value: 0)

    var shouldStop: Bool { lock.withLock { stopped } }
    func stop() { lock.withLock { stopped = true } }
    func add(_ n: Int) { lock.withLock { sent += n } }
    var bytesSent: Int { lock.withLock { sent } }
    func fail(_ message: String) { lock.withLock { failure = message } }
    var error: String? { lock.withLock { failure } }
}

/// Writes `data` on `fd` from a thread, retrying on send timeouts until done or stopped.
private func startWriter(fd: Int32, data: [UInt8], state: WriterState) {
    let thread = Thread {
        var offset = 0
        while offset < data.count && !state.shouldStop {
            let chunk = min(64 * 1024, data.count - offset)
            let n = data.withUnsafeBytes { send(fd, $0.baseAddress! + offset, chunk, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                offset += n
                state.add(n)
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                continue
            } else {
                if !state.shouldStop { state.fail("send failed after \(offset) bytes: errno \(errno)") }
                break
            }
        }
        state.done.signal()
    }
    thread.start()
}

private func setSendTimeout(_ fd: Int32, _ seconds: Double) {
    var tv = timeval()
    tv.tv_sec = Int(seconds)
    tv.tv_usec = .init((seconds - Double(Int(seconds))) * 1_000_000)
    _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
}

final class RobustnessTests: DoozerdTestCase {
    // Truncated frames followed by a close must not disturb the server.
    func testTruncatedFramesThenClose() throws {
        let bystander = try connect()
        let pieces: [(String, [UInt8])] = [
            ("half a header", [0x00, 0x00]),
            ("header only", [0x00, 0x00, 0x00, 0x0a]),
            ("header and part of the payload", [0x00, 0x00, 0x00, 0x04, 0x08, 0x01]),
            ("1 MiB announced, 1000 bytes sent", [0x00, 0x10, 0x00, 0x00] + [UInt8](repeating: 0x41, count: 1000)),
        ]
        for (name, data) in pieces {
            let victim = try connect()
            try victim.sendRaw(data)
            XCTAssertFalse(victim.isReadable(within: 0.2), "truncated frame (\(name)): no answer to an incomplete frame")
            victim.close()
            XCTAssertGreaterThanOrEqual(try bystander.rev(), 57, "truncated frame (\(name)): server keeps serving")
        }
        XCTAssertEqual(try connect().get("/ctl/name").text, "local", "truncated frames: new connections work")
    }

    // A frame that arrives in pieces is answered once it is complete.
    func testFrameSplitAcrossWrites() throws {
        let c = try connect()
        let frame = Framing.frame(Request(tag: 5, verb: .get, path: "/ctl/name").encoded())
        for byte in frame.dropLast() {
            try c.sendRaw([byte])
            pause(0.005)
        }
        XCTAssertFalse(c.isReadable(within: 0.1), "§2.1: no answer before the frame is complete")
        try c.sendRaw([frame.last!])
        assertExactly(try c.receive(), Response(tag: 5, rev: 1, value: bytes("local")), "§2.1 split frame")
        // Several frames in one write.
        let three = (10..<13).flatMap { Framing.frame(Request(tag: Int32($0), verb: .rev).encoded()) }
        try c.sendRaw(three)
        for tag: Int32 in 10..<13 { XCTAssertNotNil(try c.receive(tag: tag).rev, "§2.1 coalesced frames") }
    }

    // 10,000 pipelined requests written before reading anything: all answered with their tags.
    func testTenThousandPipelinedRequests() throws {
        let setup = try connect()
        let base = "/" + unique("pipe")
        var fileRevs: [Int64] = []
        for k in 0..<10 { fileRevs.append(try setup.mustSet("\(base)/f\(k)", "content-\(k)")) }

        let total = 10_000
        var batch: [UInt8] = []
        batch.reserveCapacity(total * 40)
        for i in 1...total {
            let tag = Int32(i)
            let k = i % 10
            let request: Request
            switch i % 4 {
            case 0: request = Request(tag: tag, verb: .get, path: "\(base)/f\(k)")
            case 1: request = Request(tag: tag, verb: .rev)
            case 2: request = Request(tag: tag, verb: .stat, path: "\(base)/f\(k)")
            default: request = Request(tag: tag, verb: .set, path: "\(base)/s\(i % 50)", value: bytes("v\(i)"), rev: -1)
            }
            batch += Framing.frame(request.encoded())
        }
        let c = try connect(to: server, timeout: 10, receiveBufferSize: 4 << 20)
        let state = WriterState()
        startWriter(fd: c.fd, data: batch, state: state)
        if state.done.wait(timeout: .now() + 60) == .timedOut {
            XCTFail("pipelining: the server stopped reading: only \(state.bytesSent)/\(batch.count) bytes written in 60 s")
        }
        XCTAssertNil(state.error, "pipelining: \(state.error ?? "")")

        var responses: [Int32: Response] = [:]
        let deadline = now() + 90
        while responses.count < total && now() < deadline {
            let response = try c.receive()
            let tag = try XCTUnwrap(response.tag, "pipelining: untagged response \(response.brief)")
            XCTAssertNil(responses[tag], "pipelining: two responses for tag \(tag)")
            responses[tag] = response
        }
        XCTAssertEqual(responses.count, total, "pipelining: all 10,000 responses")
        var setRevs: [Int64: Int] = [:]
        var latest: [Int: (rev: Int64, value: String)] = [:]
        for i in 1...total {
            guard let response = responses[Int32(i)] else { continue }
            let k = i % 10
            XCTAssertNil(response.errCode, "pipelining tag \(i): \(response.brief)")
            switch i % 4 {
            case 0:
                XCTAssertEqual(response.text, "content-\(k)", "pipelining GET tag \(i)")
                XCTAssertEqual(response.rev, fileRevs[k], "pipelining GET tag \(i)")
            case 1:
                XCTAssertGreaterThanOrEqual(response.rev ?? 0, fileRevs[9], "pipelining REV tag \(i)")
            case 2:
                XCTAssertEqual(response.len, Int32("content-\(k)".count), "pipelining STAT tag \(i)")
                XCTAssertEqual(response.rev, fileRevs[k], "pipelining STAT tag \(i)")
            default:
                if let rev = response.rev {
                    setRevs[rev, default: 0] += 1
                    let slot = i % 50
                    if rev > latest[slot]?.rev ?? 0 { latest[slot] = (rev, "v\(i)") }
                } else {
                    XCTFail("pipelining SET tag \(i): no rev in \(response.brief)")
                }
            }
        }
        XCTAssertTrue(setRevs.values.allSatisfy { $0 == 1 }, "pipelining: every SET committed at its own rev")
        for (slot, expected) in latest.sorted(by: { $0.key < $1.key }).prefix(50) {
            let get = try c.get("\(base)/s\(slot)")
            XCTAssertEqual(get.rev, expected.rev, "pipelining: /s\(slot) holds its newest write")
            XCTAssertEqual(get.text, expected.value, "pipelining: /s\(slot) holds its newest write")
        }
    }

    // A client that pipelines large GETs and never reads: the server must keep serving others
    // and must not buffer the unread responses without bound.
    func testSlowReaderDoesNotBloatTheServer() throws {
        let setup = try connect(timeout: 15)
        let path = "/" + unique("big")
        var size = 0
        for candidate in [65536, 64000, 60000, 32768, 16384, 8192, 2900] {
            let response = try setup.set(path, [UInt8](repeating: 0x5a, count: candidate), rev: -1)
            if response.errCode == nil {
                size = candidate
                break
            }
        }
        XCTAssertGreaterThan(size, 0, "slow reader: could not store a large value")
        guard size > 0 else { return }
        let small = "/" + unique("small")
        try setup.mustSet(small, "s")

        let targetBytes = 300 << 20                      // 300 MiB of responses
        let count = targetBytes / size
        let one = Framing.frame(Request(tag: 1, verb: .get, path: path).encoded())
        var batch: [UInt8] = []
        batch.reserveCapacity(one.count * count)
        for _ in 0..<count { batch += one }

        let baseline = try XCTUnwrap(server.rssKiB(), "slow reader: cannot read VmRSS")
        let flooder = try server.connect(timeout: 1)
        defer { flooder.close() }
        setSendTimeout(flooder.fd, 0.2)
        let state = WriterState()
        startWriter(fd: flooder.fd, data: batch, state: state)

        // Observe for a few seconds: other clients are served, and memory stays bounded.
        let observer = try connect(timeout: 5)
        var peak = baseline
        let end = now() + 4
        var calls = 0
        while now() < end {
            let started = now()
            XCTAssertGreaterThanOrEqual(try observer.rev(), 57, "slow reader: REV on another connection")
            XCTAssertEqual(try observer.get(small).text, "s", "slow reader: GET on another connection")
            XCTAssertLessThan(now() - started, 2, "slow reader: other connections stay responsive")
            calls += 1
            peak = max(peak, server.rssKiB() ?? 0)
            pause(0.1)
        }
        print("slow reader: \(count) GETs of \(size) bytes, \(state.bytesSent)/\(batch.count) request bytes written, "
            + "VmRSS baseline \(baseline / 1024) MiB, peak \(peak / 1024) MiB, \(calls) probe rounds")
        XCTAssertLessThan(peak, 200 * 1024,
                          "slow reader: VmRSS peaked at \(peak / 1024) MiB (baseline \(baseline / 1024) MiB) after "
                            + "\(state.bytesSent) request bytes for \(count) GETs of \(size) bytes")
        state.stop()
        flooder.close()
        _ = state.done.wait(timeout: .now() + 5)
        XCTAssertEqual(try observer.get(small).text, "s", "slow reader: server fine after the slow reader left")
        XCTAssertGreaterThanOrEqual(try connect().rev(), 57, "slow reader: new connections work")
    }

    // Frames held back while the output is over the high-water mark are answered once the
    // client reads, even when it sends nothing more (no new input to wake the server).
    func testHeldBackFramesAreAnsweredAfterTheClientReads() throws {
        let client = try connect(timeout: 10)
        let path = "/" + unique("held")
        let body = [UInt8](repeating: 0x41, count: 16 * 1024)
        _ = try client.mustSet(path, body)
        let count: Int32 = 64   // 1 MiB of answers: well past the 256 KiB mark
        var batch: [UInt8] = []
        for tag in 0..<count { batch += Framing.frame(Request(tag: tag, verb: .get, path: path).encoded()) }
        try client.sendRaw(batch)
        var seen = Set<Int32>()
        for _ in 0..<count {
            let response = try client.receive()
            XCTAssertEqual(response.value, body, "held-back GET answered with the body")
            seen.insert(try XCTUnwrap(response.tag))
        }
        XCTAssertEqual(seen, Set(0..<count), "every held-back GET answered once")
    }

    // A client that parks many reads of a future revision and never reads the answers is
    // disconnected once its unread answers pass the limit; the server and others carry on.
    func testAnswerFloodDisconnectsOnlyThatClient() throws {
        let setup = try connect(timeout: 10)
        let path = "/" + unique("flood")
        _ = try setup.mustSet(path, [UInt8](repeating: 0x42, count: 512 * 1024))
        let flooder = try server.connect(timeout: 5, receiveBufferSize: 4096)
        defer { flooder.close() }
        let future = try setup.rev() + 2
        var batch: [UInt8] = []
        for tag in 0..<Int32(400) {   // 400 × 512 KiB = 200 MiB of answers once `future` exists
            batch += Framing.frame(Request(tag: tag, verb: .get, path: path, rev: future).encoded())
        }
        try flooder.sendRaw(batch)
        XCTAssertLessThan(try setup.rev(), future, "the reads are still parked")
        _ = try setup.mustSet("/" + unique("tick"), "1")
        _ = try setup.mustSet("/" + unique("tick"), "2")
        if case .stillOpen = flooder.expectClosed(within: 10) {
            XCTFail("the flooding connection is closed")
        }
        XCTAssertLessThan(try XCTUnwrap(server.rssKiB()), 300 * 1024, "memory stays bounded")
        XCTAssertEqual(try setup.get(path).value?.count, 512 * 1024, "the server still answers others")
    }

    // B13: pending WAITs of a closed connection are dropped.
    func testAbandonedWaitsAreDropped() throws {
        let path = "/" + unique("b13")
        let glob = "/" + unique("never") + "/" + unique("x") + "/**"
        var rssAfterFirst = 0
        var rssAfterLast = 0
        let rounds = 5
        for round in 1...rounds {
            let a = try connect(timeout: 20)
            let current = try a.rev()
            // Frames built by hand (the tag is the first field; the rest is the same for all).
            let farBody = Request(verb: .wait, path: glob, rev: 1 << 40).encoded()
            let nearBody = Request(verb: .wait, path: path, rev: current + 1).encoded()
            var batch: [UInt8] = []
            batch.reserveCapacity(9_200 * (farBody.count + 10))
            for i in 0..<9_000 { batch += rawFrame([0x08] + varint(UInt64(100_000 + i)) + farBody) }   // under -maxwaits
            for i in 0..<200 { batch += rawFrame([0x08] + varint(UInt64(300_000 + i)) + nearBody) }
            batch += Framing.frame(Request(tag: 1, verb: .rev).encoded())
            try a.sendRaw(batch)
            XCTAssertNotNil(try a.receive(tag: 1).rev, "B13 round \(round): REV after the WAITs")
            XCTAssertTrue(a.stash.isEmpty, "B13: no WAIT may fire yet: \(a.stash.prefix(3).map(\.brief))")
            a.close()

            let b = try connect()
            let rev = try b.mustSet(path, "round \(round)")
            XCTAssertGreaterThan(rev, current, "B13 round \(round)")
            let event = try b.call(Request(tag: 77, verb: .wait, path: path, rev: rev))
            XCTAssertEqual(event.rev, rev, "B13 round \(round): WAIT on the new connection")
            XCTAssertGreaterThanOrEqual(try b.rev(), rev, "B13 round \(round)")
            XCTAssertTrue(b.stash.isEmpty,
                          "B13 round \(round): frames meant for the closed connection reached a new one: \(b.stash.prefix(3).map(\.brief))")
            b.close()
            if round == 1 { rssAfterFirst = server.rssKiB() ?? 0 }
            if round == rounds { rssAfterLast = server.rssKiB() ?? 0 }
        }
        print("B13: VmRSS after round 1: \(rssAfterFirst / 1024) MiB, after round \(rounds): \(rssAfterLast / 1024) MiB")
        XCTAssertLessThan(rssAfterLast - rssAfterFirst, 64 * 1024,
                          "B13: VmRSS grew from \(rssAfterFirst / 1024) to \(rssAfterLast / 1024) MiB over \(rounds - 1) rounds of 9,200 abandoned WAITs")
        XCTAssertEqual(try connect().get("/ctl/name").text, "local", "B13: server healthy")
    }

    // §2.5: a write sent just before the client disconnects is still committed.
    func testWriteCompletesAfterClientCloses() throws {
        let observer = try connect()
        let path = "/" + unique("orphan")
        let before = try observer.rev()
        let writer = try connect()
        try writer.send(Request(tag: 1, verb: .set, path: path, value: bytes("committed"), rev: -1))
        writer.close()
        let event = try observer.wait(path, rev: before + 1)
        XCTAssertEqual(event.text, "committed", "§2.5: in-flight SET completes, \(event.brief)")
        XCTAssertEqual(try observer.get(path).text, "committed", "§2.5")
    }

    // Many simultaneous connections.
    func testManyConnections() throws {
        var connections: [TestConnection] = []
        for _ in 0..<200 { connections.append(try connect()) }
        for (i, c) in connections.enumerated() { try c.send(Request(tag: Int32(i), verb: .rev)) }
        for (i, c) in connections.enumerated() {
            let response = try c.receive()
            XCTAssertEqual(response.tag, Int32(i), "many connections")
            XCTAssertGreaterThanOrEqual(response.rev ?? 0, 57, "many connections")
        }
        for c in connections { c.close() }
        XCTAssertGreaterThanOrEqual(try connect().rev(), 57, "many connections: server fine afterwards")
    }
}

final class MaxFrameTests: DoozerdTestCase {
    override class var serverConfig: DoozerdProcess.Config? { .init(arguments: ["-maxframe", "1024"]) }

    /// A REV request (tag 1) padded with an unused bytes field to exactly `size` payload bytes.
    private func paddedRev(size: Int) -> [UInt8] {
        let head: [UInt8] = [0x08, 0x01, 0x10, 0x05, 0x1a]
        let padding = size - head.count - 2                 // 2-byte varint length for 128…16383
        precondition(padding >= 128 && padding < 16384)
        let payload = head + varint(UInt64(padding)) + [UInt8](repeating: 0x61, count: padding)
        precondition(payload.count == size)
        return rawFrame(payload)
    }

    // B1 / -maxframe: exactly the maximum is served.
    func testFrameOfExactlyMaxFrameIsServed() throws {
        let c = try connect()
        try c.sendRaw(paddedRev(size: 1024))
        let response = try c.receive()
        XCTAssertEqual(response.tag, 1, "-maxframe 1024: a 1024-byte frame is served, \(response.brief)")
        XCTAssertGreaterThanOrEqual(response.rev ?? 0, 57, "-maxframe 1024")
        let path = "/" + unique("fits")
        let rev = try c.mustSet(path, [UInt8](repeating: 0x62, count: 900))
        XCTAssertEqual(try c.stat(path).len, 900, "-maxframe 1024: a 900-byte SET fits (rev \(rev))")
    }

    // 12.1 #7 / B1: one byte over the maximum closes that connection only.
    func testFrameAboveMaxFrameClosesConnection() throws {
        let bystander = try connect()
        let cases: [(String, [UInt8])] = [
            ("1025-byte frame", paddedRev(size: 1025)),
            ("header 1025 only", [0x00, 0x00, 0x04, 0x01]),
            ("SET of 2000 bytes", Framing.frame(Request(tag: 2, verb: .set, path: "/big", value: [UInt8](repeating: 1, count: 2000), rev: -1).encoded())),
            ("ff ff ff ff", [0xff, 0xff, 0xff, 0xff]),
        ]
        for (name, data) in cases {
            let victim = try connect()
            XCTAssertGreaterThanOrEqual(try victim.rev(), 57)
            try victim.sendRaw(data)
            let outcome = victim.expectClosed(within: 5)
            XCTAssertTrue(outcome.isClosed, "B1 -maxframe 1024 (\(name)): connection closed, got \(outcome)")
            XCTAssertEqual(outcome.extraBytes, 0, "B1 (\(name)): no response")
            XCTAssertGreaterThanOrEqual(try bystander.rev(), 57, "B1 (\(name)): other connections unaffected")
        }
        XCTAssertEqual(try bystander.get("/big").rev, 0, "B1: the oversized SET was not applied")
        XCTAssertEqual(try connect().get("/ctl/name").text, "local", "B1: server keeps serving")
    }
}
