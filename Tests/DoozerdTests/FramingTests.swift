// §12.1 Framing and generic behaviour, plus the byte-level examples of Appendix A.

import DoozerWire
import XCTest

final class FramingTests: DoozerdTestCase {
    // 12.1 #1
    func testRawRevRequestIsAnswered() throws {
        let c = try connect()
        try c.sendRaw([0x00, 0x00, 0x00, 0x04, 0x08, 0x01, 0x10, 0x05])
        let payload = try c.receiveFrame()
        let response = try Response(decoding: payload)
        XCTAssertEqual(response.tag, 1, "12.1 #1: tag of \(response.brief)")
        XCTAssertGreaterThanOrEqual(response.rev ?? -1, 56, "12.1 #1: rev of \(response.brief)")
        XCTAssertNil(response.errCode, "12.1 #1")
        if let rev = response.rev {
            XCTAssertEqual(payload, [0x08, 0x01, 0x18] + varint(UInt64(rev)),
                           "Appendix A: REV response bytes, got \(hex(payload))")
        }
    }

    // Appendix A: request and response byte examples.
    func testAppendixAExamples() throws {
        let c = try connect()
        // tag 2, GET /ctl/name
        try c.sendRaw([0x00, 0x00, 0x00, 0x0f, 0x08, 0x02, 0x10, 0x01, 0x22, 0x09]
            + bytes("/ctl/name"))
        var payload = try c.receiveFrame()
        XCTAssertEqual(payload, [0x08, 0x02, 0x18, 0x01, 0x32, 0x05] + bytes("local"),
                       "Appendix A: GET /ctl/name response bytes, got \(hex(payload))")

        // tag 3, SET /a = hi, rev -1
        try c.sendRaw([0x00, 0x00, 0x00, 0x17, 0x08, 0x03, 0x10, 0x02, 0x22, 0x02, 0x2f, 0x61, 0x2a, 0x02,
                       0x68, 0x69, 0x48, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])
        payload = try c.receiveFrame()
        let set = try Response(decoding: payload)
        XCTAssertEqual(set.tag, 3, "Appendix A: SET tag")
        XCTAssertGreaterThan(set.rev ?? 0, 56, "Appendix A: SET rev of \(set.brief)")
        if let rev = set.rev {
            XCTAssertEqual(payload, [0x08, 0x03, 0x18] + varint(UInt64(rev)), "Appendix A: SET response bytes")
            let get = try c.get("/a")
            XCTAssertEqual(get.rev, rev, "Appendix A: SET /a committed")
            XCTAssertEqual(get.text, "hi", "Appendix A: SET /a body")
        }

        // tag 4, WAIT /** rev 10 → the no-op at 10
        try c.sendRaw([0x00, 0x00, 0x00, 0x0b, 0x08, 0x04, 0x10, 0x06, 0x22, 0x03, 0x2f, 0x2a, 0x2a, 0x48, 0x0a])
        let wait = try Response(decoding: c.receiveFrame())
        XCTAssertEqual(wait.tag, 4, "Appendix A: WAIT tag")
        XCTAssertEqual(wait.rev, 10, "Appendix A: WAIT rev")
        XCTAssertEqual(wait.path, "/", "Appendix A: WAIT path (no-op)")
        XCTAssertEqual(wait.flags, 0, "Appendix A: WAIT flags (no-op)")
        XCTAssertEqual(wait.value ?? [], [], "Appendix A: WAIT value (no-op)")

        // GET of a missing path: 08 03 18 00 32 00
        try c.send(Request(tag: 3, verb: .get, path: "/" + unique("missing")))
        payload = try c.receiveFrame()
        XCTAssertEqual(payload, [0x08, 0x03, 0x18, 0x00, 0x32, 0x00], "Appendix A: GET missing, got \(hex(payload))")

        // STAT of a missing path: 08 04 18 00 40 00
        try c.send(Request(tag: 4, verb: .stat, path: "/" + unique("missing")))
        payload = try c.receiveFrame()
        XCTAssertEqual(payload, [0x08, 0x04, 0x18, 0x00, 0x40, 0x00], "Appendix A: STAT missing, got \(hex(payload))")

        // DEL success: 08 05
        let path = "/" + unique("del")
        let rev = try c.mustSet(path, "x")
        try c.send(Request(tag: 5, verb: .del, path: path, rev: rev))
        payload = try c.receiveFrame()
        XCTAssertEqual(payload, [0x08, 0x05], "Appendix A: DEL success, got \(hex(payload))")

        // REV_MISMATCH (tag 3): 08 03 a0 06 05
        try c.mustSet(path, "x", rev: 0)
        try c.send(Request(tag: 3, verb: .set, path: path, value: bytes("y"), rev: 0))
        payload = try c.receiveFrame()
        XCTAssertEqual(payload, [0x08, 0x03, 0xa0, 0x06, 0x05], "Appendix A: REV_MISMATCH, got \(hex(payload))")

        // WALK /ctl/name offset 0 (tag 6): 08 06 10 04 18 01 2a 09 /ctl/name 32 05 local
        try c.send(Request(tag: 6, verb: .walk, path: "/ctl/name", offset: 0))
        payload = try c.receiveFrame()
        XCTAssertEqual(payload, [0x08, 0x06, 0x10, 0x04, 0x18, 0x01, 0x2a, 0x09] + bytes("/ctl/name")
            + [0x32, 0x05] + bytes("local"), "Appendix A: WALK response, got \(hex(payload))")
    }

    // 12.1 #2
    func testResponseWithoutTagHasNoTag() throws {
        let c = try connect()
        try c.send(Request(verb: .rev))
        let response = try c.receive()
        XCTAssertNil(response.tag, "12.1 #2: \(response.brief)")
        XCTAssertNotNil(response.rev, "12.1 #2: \(response.brief)")
        try c.send(Request(verb: .get, path: "/ctl/name"))
        let get = try c.receive()
        XCTAssertNil(get.tag, "12.1 #2: \(get.brief)")
        XCTAssertEqual(get.text, "local", "12.1 #2")
    }

    // 12.1 #3
    func testZeroLengthFrameIsUnknownVerb() throws {
        let c = try connect()
        try c.sendRaw([0, 0, 0, 0])
        let response = try c.receive()
        assertExactly(response, Response(errCode: .unknownVerb), "12.1 #3")
        XCTAssertGreaterThanOrEqual(try c.rev(), 56, "12.1 #3: connection stays usable")
    }

    // 12.1 #4
    func testUnknownVerbs() throws {
        let c = try connect()
        var tag: Int32 = 40
        for verb: Int32 in [0, 4, 8, 10, 1234, 11, 98, -1] {
            tag += 1
            let response = try c.call(Request(tag: tag, verb: verb))
            assertExactly(response, Response(tag: tag, errCode: .unknownVerb), "12.1 #4 verb \(verb)")
        }
        let absent = try c.call(Request(tag: 77))
        assertExactly(absent, Response(tag: 77, errCode: .unknownVerb), "12.1 #4 absent verb")
        XCTAssertGreaterThanOrEqual(try c.rev(), 56, "12.1 #4/#13: connection still usable")
    }

    // 12.1 #5
    func testUnknownFieldsAreIgnored() throws {
        let c = try connect()
        var payload: [UInt8] = [0x08, 0x07, 0x10, 0x05]          // tag 7, REV
        payload += [0x18, 0x2a]                                   // field 3 (unused), varint
        payload += [0x42, 0x03] + bytes("abc")                    // field 8 (unused), bytes
        payload += [0x79, 1, 2, 3, 4, 5, 6, 7, 8]                 // field 15, fixed64
        payload += [0xc5, 0x0c, 1, 2, 3, 4]                       // field 200, fixed32
        payload += [0x30, 0x05]                                   // other_tag 5 (ignored)
        payload += [0xa2, 0x06, 0x02, 0x61, 0x62]                 // field 100, bytes
        try c.sendRaw(rawFrame(payload))
        let response = try c.receive()
        XCTAssertEqual(response.tag, 7, "12.1 #5: \(response.brief)")
        XCTAssertNil(response.errCode, "12.1 #5: \(response.brief)")
        XCTAssertGreaterThanOrEqual(response.rev ?? 0, 56, "12.1 #5: \(response.brief)")

        // Unknown fields around a GET do not disturb it either.
        var get: [UInt8] = [0x08, 0x08, 0x10, 0x01, 0x22, 0x09] + bytes("/ctl/name")
        get += [0x1a, 0x01, 0x00, 0xf8, 0x01, 0x01]                // field 3 bytes, field 31 varint
        try c.sendRaw(rawFrame(get))
        let answer = try c.receive()
        XCTAssertEqual(answer.tag, 8, "12.1 #5: \(answer.brief)")
        XCTAssertEqual(answer.text, "local", "12.1 #5: \(answer.brief)")
    }

    // 12.1 #6
    func testGarbageProtobufClosesOnlyThatConnection() throws {
        let bystander = try connect()
        XCTAssertGreaterThanOrEqual(try bystander.rev(), 56)
        let garbage: [(String, [UInt8])] = [
            ("truncated varint", [0x08]),
            ("wire type 7", [0x0f]),
            ("wire type 6", [0x0e, 0x01]),
            ("length past end", [0x22, 0x10, 0x2f]),
            ("unterminated group", [0x0b]),
            ("field number 0", [0x00, 0x01]),
            ("11-byte varint", [0x08] + [UInt8](repeating: 0xff, count: 10) + [0x01]),
        ]
        for (name, payload) in garbage {
            let victim = try connect()
            try victim.sendRaw(rawFrame(payload))
            let outcome = victim.expectClosed(within: 5)
            XCTAssertTrue(outcome.isClosed, "12.1 #6 (\(name)): connection should be closed, got \(outcome)")
            XCTAssertEqual(outcome.extraBytes, 0, "12.1 #6 (\(name)): no response expected")
            XCTAssertGreaterThanOrEqual(try bystander.rev(), 56, "12.1 #6 (\(name)): other connection unaffected")
        }
        let fresh = try connect()
        XCTAssertEqual(try fresh.get("/ctl/name").text, "local", "12.1 #6: server still serves new connections")
    }

    // 12.1 #7 (fixed, B1)
    func testOversizedFrameHeaderClosesOnlyThatConnection() throws {
        let bystander = try connect()
        XCTAssertGreaterThanOrEqual(try bystander.rev(), 56)
        let headers: [(String, [UInt8])] = [
            ("ff ff ff ff", [0xff, 0xff, 0xff, 0xff]),
            ("80 00 00 00", [0x80, 0x00, 0x00, 0x00]),
            ("16 MiB + 1", [0x01, 0x00, 0x00, 0x01]),
            ("7f ff ff ff", [0x7f, 0xff, 0xff, 0xff]),
        ]
        for (name, header) in headers {
            let victim = try connect()
            try victim.sendRaw(header + [0x08, 0x01, 0x10, 0x05])
            let outcome = victim.expectClosed(within: 5)
            XCTAssertTrue(outcome.isClosed, "12.1 #7 (\(name)): connection should be closed, got \(outcome)")
            XCTAssertEqual(outcome.extraBytes, 0, "12.1 #7 (\(name)): no response expected")
            XCTAssertGreaterThanOrEqual(try bystander.rev(), 56, "12.1 #7 (\(name)): other connection unaffected")
        }
        let fresh = try connect()
        XCTAssertEqual(try fresh.get("/ctl/name").text, "local", "12.1 #7: server keeps serving")
    }

    // 12.1 #8
    func testTagsAreEchoedVerbatim() throws {
        let c = try connect()
        for tag: Int32 in [0, 1, -1, -2, 2147483647, -2147483648, 65536, 127, 128] {
            let response = try c.call(Request(tag: tag, verb: .rev))
            XCTAssertEqual(response.tag, tag, "12.1 #8: \(response.brief)")
            XCTAssertNotNil(response.rev, "12.1 #8")
        }
        let get = try c.call(Request(tag: -5, verb: .get, path: "/ctl/name"))
        XCTAssertEqual(get.tag, -5, "12.1 #8")
        XCTAssertEqual(get.text, "local", "12.1 #8")
    }

    // 12.1 #9
    func testDuplicateOutstandingTagsAreBothAnswered() throws {
        let a = try connect()
        let b = try connect()
        let path = "/" + unique("dup")
        let current = try a.rev()
        try a.send(Request(tag: 9, verb: .wait, path: path, rev: current + 1))
        try a.send(Request(tag: 9, verb: .get, path: "/ctl/name"))
        let first = try a.receive()
        XCTAssertEqual(first.tag, 9, "12.1 #9: \(first.brief)")
        let written = try b.mustSet(path, "dup")
        let second = try a.receive()
        XCTAssertEqual(second.tag, 9, "12.1 #9: \(second.brief)")
        let both = [first, second]
        XCTAssertTrue(both.contains { $0.path == path && $0.rev == written && $0.flags == EventFlags.set },
                      "12.1 #9: the WAIT event must be one of \(both.map(\.brief))")
        XCTAssertTrue(both.contains { $0.text == "local" || $0.error == .tagInUse },
                      "12.1 #9: the GET (or TAG_IN_USE) must be one of \(both.map(\.brief))")
    }

    // 12.1 #10
    func testInlineRevOvertakesPendingWait() throws {
        let a = try connect()
        let b = try connect()
        let path = "/" + unique("pipe")
        let current = try a.rev()
        try a.send(Request(tag: 100, verb: .wait, path: path, rev: current + 1))
        try a.send(Request(tag: 101, verb: .rev))
        let first = try a.receive()
        XCTAssertEqual(first.tag, 101, "12.1 #10: REV must be answered while the WAIT is pending, got \(first.brief)")
        XCTAssertGreaterThanOrEqual(first.rev ?? 0, current, "12.1 #10")
        let written = try b.mustSet(path, "v")
        let event = try a.receive(tag: 100)
        XCTAssertEqual(event.rev, written, "12.1 #10: WAIT fires on the write, \(event.brief)")
        XCTAssertEqual(event.path, path, "12.1 #10")
    }

    // 12.1 #11
    func testSuccessfulResponsesCarryNoFlags() throws {
        let c = try connect()
        let path = "/" + unique("flags")
        var r = try c.call(Request(tag: 1, verb: .rev))
        XCTAssertNil(r.flags, "12.1 #11 REV")
        XCTAssertEqual(r.tag, 1)
        XCTAssertNotNil(r.rev)
        XCTAssertNil(r.value, "12.1 #11 REV")
        XCTAssertNil(r.path, "12.1 #11 REV")

        r = try c.call(Request(tag: 2, verb: .set, path: path, value: bytes("abc"), rev: -1))
        let rev = try XCTUnwrap(r.rev, "12.1 #11 SET: \(r.brief)")
        assertExactly(r, Response(tag: 2, rev: rev), "12.1 #11 SET")

        r = try c.call(Request(tag: 3, verb: .get, path: path))
        assertExactly(r, Response(tag: 3, rev: rev, value: bytes("abc")), "12.1 #11 GET")

        r = try c.call(Request(tag: 4, verb: .stat, path: path))
        assertExactly(r, Response(tag: 4, rev: rev, len: 3), "12.1 #11 STAT")

        r = try c.call(Request(tag: 5, verb: .getdir, path: "/ctl", offset: 0))
        assertExactly(r, Response(tag: 5, path: "cal"), "12.1 #11 GETDIR")

        r = try c.call(Request(tag: 6, verb: .self))
        assertExactly(r, Response(tag: 6, value: bytes(nodeID)), "12.1 #11 SELF")

        r = try c.call(Request(tag: 7, verb: .nop))
        assertExactly(r, Response(tag: 7), "12.1 #11 NOP")

        r = try c.call(Request(tag: 8, verb: .access))
        assertExactly(r, Response(tag: 8), "12.1 #11 ACCESS (empty secret, no secrets configured)")

        r = try c.call(Request(tag: 9, verb: .del, path: path, rev: rev))
        assertExactly(r, Response(tag: 9), "12.1 #11 DEL")
    }

    // 12.1 #12 and #13
    func testErrorResponsesCarryOnlyTagAndCode() throws {
        let c = try connect()
        let file = "/" + unique("err")
        try c.mustSet(file, "x")
        let cases: [(String, Request, ErrorCode, String?)] = [
            ("GET /", Request(tag: 11, verb: .get, path: "/"), .isDir, nil),
            ("GET no path", Request(tag: 12, verb: .get), .missingArg, nil),
            ("SET rev 0 on file", Request(tag: 13, verb: .set, path: file, value: bytes("y"), rev: 0), .revMismatch, nil),
            ("GETDIR missing", Request(tag: 14, verb: .getdir, path: "/" + unique("nope"), offset: 0), .noEnt, nil),
            ("GETDIR offset past end", Request(tag: 15, verb: .getdir, path: "/ctl", offset: 999), .range, nil),
            ("WALK past end", Request(tag: 16, verb: .walk, path: "/ctl/**", offset: 99999), .range, nil),
            ("WAIT bad glob", Request(tag: 17, verb: .wait, path: "bad", rev: 1), .other, "invalid glob pattern: bad"),
            ("verb 4", Request(tag: 18, verb: 4), .unknownVerb, nil),
            ("SET bad path", Request(tag: 19, verb: .set, path: "/bad path", value: bytes("v"), rev: -1), .badPath, nil),
            ("GETDIR on file", Request(tag: 20, verb: .getdir, path: file, offset: 0), .notDir, nil),
            ("SET below file", Request(tag: 21, verb: .set, path: file + "/x", value: bytes("v"), rev: -1), .notDir, nil),
            ("DEL dir", Request(tag: 22, verb: .del, path: "/ctl", rev: -1), .isDir, nil),
            ("GET bad path", Request(tag: 23, verb: .get, path: "ctl/name"), .badPath, nil),
            ("WALK negative offset", Request(tag: 24, verb: .walk, path: "/**", offset: -1), .range, nil),
        ]
        for (name, request, code, detail) in cases {
            let response = try c.call(request)
            assertExactly(response, Response(tag: request.tag, errCode: code, errDetail: detail), "12.1 #12 (\(name))")
            // 12.1 #13: the connection stays open after every error.
            XCTAssertGreaterThanOrEqual(try c.rev(), 56, "12.1 #13 after \(name)")
        }
    }

    // 12.1 #13
    func testConnectionStaysOpenAfterErrors() throws {
        let c = try connect()
        _ = try c.call(Request(verb: 1234))
        _ = try c.get(nil)
        _ = try c.get("/")
        _ = try c.wait("", rev: 1)
        _ = try c.set("/x/", "v", rev: -1)
        XCTAssertEqual(try c.get("/ctl/name").text, "local", "12.1 #13")
        XCTAssertFalse(c.expectClosed(within: 0.05).isClosed, "12.1 #13: connection still open")
    }
}
