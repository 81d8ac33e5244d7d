// Issue 10: what one client connection may cost the server — bodies shared between waiters,
// -maxwaits, -maxconns, a fair share of each wake-up, and unknown fields (groups, large field
// numbers) skipped rather than fatal.

import DoozerWire
import Foundation
import XCTest

final class SharedBodyTests: DoozerdTestCase {
    // 20 connections that never read, each with 60 WAITs on one path, then one 1 MiB SET:
    // 1,200 answers carrying the same body. Copied per waiter that was 1.2 GB of RSS; shared,
    // the body is held once.
    func testOneBodyForManyUnreadWaits() throws {
        let setup = try connect(timeout: 20)
        let path = "/" + unique("shared")
        let rev = try setup.rev() + 1
        var waiters: [TestConnection] = []
        for _ in 0..<20 {
            let waiter = try server.connect(timeout: 20, receiveBufferSize: 4096)
            var batch: [UInt8] = []
            for tag in 0..<Int32(60) { batch += Framing.frame(Request(tag: tag, verb: .wait, path: path, rev: rev).encoded()) }
            batch += Framing.frame(Request(tag: 1000, verb: .rev).encoded())
            try waiter.sendRaw(batch)
            XCTAssertLessThan(try XCTUnwrap(waiter.receive(tag: 1000).rev), rev, "the WAITs before it are pending")
            waiters.append(waiter)
        }
        let baseline = try XCTUnwrap(server.rssKiB(), "cannot read VmRSS")
        let body = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        XCTAssertEqual(try setup.mustSet(path, body), rev)
        XCTAssertEqual(try setup.rev(), rev, "the server answers after firing 1,200 WAITs")
        let grown = (try XCTUnwrap(server.rssKiB())) - baseline
        print("shared bodies: VmRSS grew \(grown / 1024) MiB for 1,200 unread answers of 1 MiB")
        XCTAssertLessThan(grown, 150 * 1024, "VmRSS grew \(grown / 1024) MiB: bodies copied per waiter")
        // The answers are intact for a waiter that reads them.
        let reader = waiters[0]
        for _ in 0..<60 {
            let answer = try reader.receive()
            XCTAssertEqual(answer.rev, rev)
            XCTAssertEqual(answer.path, path)
            XCTAssertTrue(answer.value == body, "WAIT answer carries the body intact")
        }
    }
}

final class WaitLimitTests: DoozerdTestCase {
    override class var serverConfig: DoozerdProcess.Config? { .init(arguments: ["-maxwaits", "100"]) }

    func testWaitsAndFutureReadsPastTheLimitAreRefused() throws {
        let client = try connect(timeout: 10)
        let path = "/" + unique("limit")
        let future = try client.rev() + 1
        var batch: [UInt8] = []
        for tag in 0..<Int32(60) { batch += Framing.frame(Request(tag: tag, verb: .wait, path: path, rev: future).encoded()) }
        for tag in 60..<Int32(100) { batch += Framing.frame(Request(tag: tag, verb: .get, path: path, rev: future).encoded()) }
        batch += Framing.frame(Request(tag: 100, verb: .wait, path: path, rev: future).encoded())
        batch += Framing.frame(Request(tag: 101, verb: .get, path: path, rev: future).encoded())
        try client.sendRaw(batch)
        for tag: Int32 in [100, 101] {
            let refused = try client.receive(tag: tag)
            XCTAssertEqual(refused.error, .other, refused.brief)
            XCTAssertTrue(refused.errDetail?.contains("-maxwaits 100") == true, refused.brief)
        }
        XCTAssertTrue(client.stash.isEmpty, "the first 100 stay pending: \(client.stash.prefix(3).map(\.brief))")
        // Once they are answered, the connection may wait again.
        let other = try connect()
        XCTAssertEqual(try other.mustSet(path, "x"), future)
        for _ in 0..<100 { XCTAssertNil(try client.receive().errCode) }
        XCTAssertEqual(try client.wait(path, rev: future).rev, future, "WAIT accepted again")
    }
}

final class ConnectionCountLimitTests: DoozerdTestCase {
    override class var serverConfig: DoozerdProcess.Config? { .init(arguments: ["-maxconns", "4"]) }

    func testConnectionsPastTheLimitAreClosedOthersServed() throws {
        var open: [TestConnection] = []
        for _ in 0..<4 {
            let connection = try connect()
            XCTAssertGreaterThan(try connection.rev(), 0)   // accepted and served
            open.append(connection)
        }
        for _ in 0..<3 {
            let refused = try server.connect(timeout: 5)
            XCTAssertTrue(refused.expectClosed(within: 5).isClosed, "a connection past -maxconns is closed")
        }
        for connection in open { XCTAssertGreaterThan(try connection.rev(), 0, "open connections still served") }
        open.removeLast().close()
        var admitted: TestConnection?
        for _ in 0..<100 where admitted == nil {   // the server notices the close asynchronously
            let candidate = try server.connect(timeout: 5)
            if (try? candidate.rev()) != nil { admitted = candidate } else { pause(0.05) }
        }
        XCTAssertNotNil(admitted, "a slot freed by a close is given to a new connection")
    }
}

final class FairnessTests: DoozerdTestCase {
    // One connection pipelines expensive WALKs (deep offsets over a large directory); a REV
    // on another connection is answered long before that pipeline is.
    func testPipelinedWorkDoesNotStarveOtherConnections() throws {
        let setup = try connect(timeout: 60)
        let dir = "/" + unique("bd")
        let entries = 20_000
        var batch: [UInt8] = []
        for i in 0..<entries {
            batch += Framing.frame(Request(tag: Int32(i), verb: .set, path: "\(dir)/e\(i)", value: [1], rev: -1).encoded())
        }
        try setup.sendRaw(batch)
        for _ in 0..<entries { XCTAssertNil(try setup.receive().errCode) }

        let flooder = try connect(timeout: 120)
        let walks = 200
        batch = []
        for tag in 0..<Int32(walks) {
            batch += Framing.frame(Request(tag: tag, verb: .walk, path: "\(dir)/*", offset: Int32(entries - 1)).encoded())
        }
        let probe = try connect(timeout: 120)
        try flooder.sendRaw(batch)
        let first = try flooder.receive()   // the first answers leave before the whole pipeline is done
        XCTAssertEqual(first.tag, 0, first.brief)
        XCTAssertGreaterThan(try probe.rev(), 0)
        // An unfair server answers the REV only after every WALK of the pipeline, so all of
        // their answers are already here; a fair one is still working through them.
        var answered = 1
        while answered < walks && flooder.isReadable(within: 0) {
            _ = try flooder.receive()
            answered += 1
        }
        print("fairness: \(answered) of \(walks) WALKs answered when the REV on another connection was")
        XCTAssertLessThan(answered, walks, "REV waited behind another connection's whole pipeline")
        for _ in answered..<walks { _ = try flooder.receive() }
    }
}

final class UnknownFieldTests: DoozerdTestCase {
    // Unknown fields are ignored, whatever their wire type or number (groups included).
    func testGroupsAndLargeFieldNumbersAreSkipped() throws {
        let client = try connect()
        let rev = Request(tag: 7, verb: .rev).encoded()
        let unknown: [[UInt8]] = [
            [0x0b, 0x08, 0x09, 0x22, 0x01, 0x62, 0x0c],                 // group 1 holding fields 1 and 4
            [0x1b, 0x23, 0x24, 0x1c],                                   // nested groups
            varint(UInt64(1) << 35) + [0x05],                              // field 2^32, varint
            varint((UInt64(1) << 29) << 3 | 2) + [0x01, 0x61],          // field 2^29, bytes
        ]
        for piece in unknown {
            try client.sendRaw(rawFrame(rev + piece))
            let response = try client.receive()
            XCTAssertEqual(response.tag, 7, "\(hex(piece)): \(response.brief)")
            XCTAssertNotNil(response.rev, "\(hex(piece)): \(response.brief)")
        }
    }
}
