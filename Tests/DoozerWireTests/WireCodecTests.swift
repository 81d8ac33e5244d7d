import DoozerWire
import XCTest
import DoozerTestSupport

final class WireCodecTests: XCTestCase {
    // MARK: Appendix A

    let appendixRequests: [(Request, String)] = [
        (Request(tag: 1, verb: .rev), "00 00 00 04 08 01 10 05"),
        (Request(tag: 2, verb: .get, path: "/ctl/name"), "00 00 00 0f 08 02 10 01 22 09 2f 63 74 6c 2f 6e 61 6d 65"),
        (Request(tag: 3, verb: .set, path: "/a", value: Array("hi".utf8), rev: -1),
         "00 00 00 17 08 03 10 02 22 02 2f 61 2a 02 68 69 48 ff ff ff ff ff ff ff ff ff 01"),
        (Request(tag: 4, verb: .wait, path: "/**", rev: 10), "00 00 00 0b 08 04 10 06 22 03 2f 2a 2a 48 0a"),
    ]

    let appendixResponses: [(Response, String)] = [
        (Response(tag: 1, rev: 71), "00 00 00 04 08 01 18 47"),
        (Response(tag: 2, rev: 791, value: Array("x".utf8)), "00 00 00 08 08 02 18 97 06 32 01 78"),
        (Response(tag: 3, rev: 0, value: []), "00 00 00 06 08 03 18 00 32 00"),
        (Response(tag: 4, rev: 0, len: 0), "00 00 00 06 08 04 18 00 40 00"),
        (Response(tag: 5), "00 00 00 02 08 05"),
        (Response(tag: 6, flags: EventFlags.set, rev: 791, path: "/ctl/name", value: Array("x".utf8)),
         "00 00 00 15 08 06 10 04 18 97 06 2a 09 2f 63 74 6c 2f 6e 61 6d 65 32 01 78"),
        (Response(tag: 3, errCode: .revMismatch), "00 00 00 05 08 03 a0 06 05"),
        (Response(tag: 3, errCode: .other, errDetail: "permission denied"),
         "00 00 00 19 08 03 a0 06 7f aa 06 11 70 65 72 6d 69 73 73 69 6f 6e 20 64 65 6e 69 65 64"),
    ]

    func testAppendixRequestsRoundTrip() throws {
        for (request, frameHex) in appendixRequests {
            let frame = bytes(frameHex)
            XCTAssertEqual(Framing.frame(request.encoded()), frame, frameHex)
            let payload = Array(frame[4...])
            XCTAssertEqual(frame.withUnsafeBytes { Framing.scan($0, maxFrame: Framing.defaultMaxFrame) },
                           .frame(payloadCount: payload.count))
            XCTAssertEqual(try Request(decoding: payload), request)
            let fromView = try payload.withUnsafeBytes { Request(try RequestView(decoding: $0)) }
            XCTAssertEqual(fromView, request)
        }
    }

    /// The payload passed to `Response(decoding:)` is a temporary nothing else holds: the
    /// decoded fields must be copied before it is freed (a release build once read them after:
    /// wrong values of 1 KB, a crash at 300 KB).
    func testResponseDecodingOwnsItsFields() throws {
        for size in [1, 1_000, 5_000, 70_000, 300_000] {
            let value = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let response = Response(tag: 9, flags: EventFlags.set, rev: 12345, path: "/bench/k\(size)", value: value)
            for _ in 0..<20 {
                XCTAssertEqual(try Response(decoding: Framing.frame(response.encoded()).dropFirst(4).map { $0 }), response, "\(size) bytes")
            }
        }
    }

    func testAppendixResponsesRoundTrip() throws {
        for (response, frameHex) in appendixResponses {
            let frame = bytes(frameHex)
            let payload = Array(frame[4...])
            XCTAssertEqual(Framing.frame(response.encoded()), frame, frameHex)
            XCTAssertEqual(encodeWithResponseFields(response), payload, frameHex)
            XCTAssertEqual(try Response(decoding: payload), response)
        }
    }

    func testAppendixRequestViewFields() throws {
        let payload = bytes("08 03 10 02 22 02 2f 61 2a 02 68 69 48 ff ff ff ff ff ff ff ff ff 01")
        try payload.withUnsafeBytes { raw in
            let view = try RequestView(decoding: raw)
            XCTAssertEqual(view.tag, 3)
            XCTAssertEqual(view.verb, Verb.set.rawValue)
            XCTAssertEqual(view.path.map { Array($0) }, Array("/a".utf8))
            XCTAssertEqual(view.value.map { Array($0) }, Array("hi".utf8))
            XCTAssertNil(view.otherTag)
            XCTAssertNil(view.offset)
            XCTAssertEqual(view.rev, -1)
            // The byte fields point into the payload, not into a copy.
            XCTAssertEqual(view.path?.baseAddress, raw.baseAddress! + 6)
            XCTAssertEqual(view.value?.baseAddress, raw.baseAddress! + 10)
        }
    }

    // MARK: Integers

    /// A frame built from `frameHead` and the value's bytes is the frame of that request.
    func testFrameHeadPrecedesTheValueOfAWholeFrame() throws {
        for count in [0, 1, 127, 128, 65_536, 1 << 20] {
            let value = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let frame = Request.frameHead(verb: .peer, valueCount: count) + value
            XCTAssertEqual(frame, Framing.frame(Request(verb: .peer, value: value).encoded()), "\(count) bytes")
        }
    }

    func testNegativeAndExtremeTags() throws {
        let cases: [(Int32, String)] = [
            (-1, "08 ff ff ff ff ff ff ff ff ff 01"),
            (-2, "08 fe ff ff ff ff ff ff ff ff 01"),
            (.min, "08 80 80 80 80 f8 ff ff ff ff 01"),
            (.max, "08 ff ff ff ff 07"),
            (0, "08 00"),
            (127, "08 7f"),
            (128, "08 80 01"),
        ]
        for (tag, payloadHex) in cases {
            let payload = bytes(payloadHex)
            XCTAssertEqual(Request(tag: tag).encoded(), payload, "\(tag)")
            XCTAssertEqual(Response(tag: tag).encoded(), payload, "\(tag)")
            XCTAssertEqual(try Request(decoding: payload).tag, tag)
            XCTAssertEqual(try Response(decoding: payload).tag, tag)
            var fields = ResponseFields()
            fields.tag = tag
            XCTAssertEqual(fields.encodedCount, payload.count)
            XCTAssertEqual(encodeWithResponseFields(Response(tag: tag)), payload)
        }
    }

    func testInt64Revs() throws {
        let cases: [(Int64, String)] = [
            (-1, "48 ff ff ff ff ff ff ff ff ff 01"),
            (-2, "48 fe ff ff ff ff ff ff ff ff 01"),
            (-3, "48 fd ff ff ff ff ff ff ff ff 01"),
            (.max, "48 ff ff ff ff ff ff ff ff 7f"),
            (.min, "48 80 80 80 80 80 80 80 80 80 01"),
            (1 << 35, "48 80 80 80 80 80 01"),
            (791, "48 97 06"),
        ]
        for (rev, payloadHex) in cases {
            let payload = bytes(payloadHex)
            XCTAssertEqual(Request(rev: rev).encoded(), payload, "\(rev)")
            XCTAssertEqual(try Request(decoding: payload).rev, rev)
            let responsePayload = [0x18] + payload.dropFirst()
            XCTAssertEqual(Response(rev: rev).encoded(), responsePayload, "\(rev)")
            XCTAssertEqual(try Response(decoding: responsePayload).rev, rev)
        }
    }

    func testVarintLengthBoundaries() throws {
        let cases: [(Int32, Int)] = [(0, 1), (127, 1), (128, 2), (16383, 2), (16384, 3), (2_097_151, 3),
                                     (2_097_152, 4), (268_435_455, 4), (268_435_456, 5), (.max, 5), (-1, 10)]
        for (value, varintBytes) in cases {
            let payload = Request(offset: value).encoded()
            XCTAssertEqual(payload.count, 1 + varintBytes, "\(value)")
            XCTAssertEqual(try Request(decoding: payload).offset, value)
        }
        // Two-byte length prefix for a 300-byte value, two-byte keys for fields 100 and 101.
        let value = [UInt8](repeating: 7, count: 300)
        XCTAssertEqual(Array(Request(value: value).encoded().prefix(3)), [0x2a, 0xac, 0x02])
        XCTAssertEqual(Response(errCode: 127, errDetail: "").encoded(), [0xa0, 0x06, 0x7f, 0xaa, 0x06, 0x00])
    }

    func testInt32FieldsTakeLow32BitsOfLongVarints() throws {
        // 5-byte 0xffffffff and 10-byte varints both mean -1 for int32 fields.
        XCTAssertEqual(try Request(decoding: bytes("08 ff ff ff ff 0f")).tag, -1)
        XCTAssertEqual(try Request(decoding: bytes("08 ff ff ff ff ff ff ff ff ff 7f")).tag, -1)
        XCTAssertEqual(try Request(decoding: bytes("08 81 00")).tag, 1)  // non-minimal varint
    }

    // MARK: Presence and unknown fields

    func testEmptyPayloadDecodesToAllNil() throws {
        XCTAssertEqual(try Request(decoding: []), Request())
        XCTAssertEqual(try Response(decoding: []), Response())
        XCTAssertEqual(Request().encoded(), [])
        XCTAssertEqual(Response().encoded(), [])
        XCTAssertEqual(ResponseFields().encodedCount, 0)
        let view = try RequestView(decoding: UnsafeRawBufferPointer(start: nil, count: 0))
        XCTAssertNil(view.tag)
        XCTAssertNil(view.verb)
        XCTAssertNil(view.path)
        XCTAssertNil(view.value)
        XCTAssertNil(view.otherTag)
        XCTAssertNil(view.offset)
        XCTAssertNil(view.rev)
    }

    func testEmptyStringAndBytesArePresent() throws {
        let request = Request(path: "", value: [])
        XCTAssertEqual(request.encoded(), bytes("22 00 2a 00"))
        XCTAssertEqual(try Request(decoding: request.encoded()), request)
        try request.encoded().withUnsafeBytes { raw in
            let view = try RequestView(decoding: raw)
            XCTAssertEqual(view.path?.count, 0)
            XCTAssertEqual(view.value?.count, 0)
        }
    }

    func testUnknownFieldsOfEveryWireTypeAreSkipped() throws {
        let unknown = [
            "18 96 01",                    // field 3, varint
            "19 01 02 03 04 05 06 07 08",  // field 3, fixed64
            "42 03 61 62 63",              // field 8, length-delimited
            "45 01 02 03 04",              // field 8, fixed32
            "a0 06 01",                    // field 100, varint
            "f8 ff ff ff 0f 07",           // field 536870911, varint
            "0a 02 08 01",                 // known field 1 (int32) with wire type 2
            "20 05",                       // known field 4 (string) with wire type 0
            "0d 01 02 03 04",              // known field 1 with wire type 5
            "f8 ff ff ff 1f 00",           // field 2^30-1, beyond protobuf's 2^29-1
            "80 80 80 80 80 80 02 05",     // field 2^40, varint
            "82 80 80 80 10 01 61",        // field 2^29, length-delimited
            "0b 0c",                       // empty group 1 (a known number, skipped whole)
            "0b 08 09 22 01 62 0c",        // group 1 holding fields 1 and 4: not the request's
            "1b 23 08 01 24 2b 2c 1c",     // group 3 holding groups 4 and 5
            "fb ff ff ff ff ff ff ff ff 01 fc ff ff ff ff ff ff ff ff 01",  // group 2^61-1
            String(repeating: "0b", count: 64) + String(repeating: "0c", count: 64),  // 64 deep
        ]
        let known = "08 07 10 01 22 02 2f 61"
        for piece in unknown {
            for payloadHex in [piece + known, known + piece] {
                let decoded = try Request(decoding: bytes(payloadHex))
                XCTAssertEqual(decoded, Request(tag: 7, verb: .get, path: "/a"), payloadHex)
            }
        }
        // Response: fields 4 and 7 are unused, 1 with the wrong wire type is unknown.
        for piece in ["20 01", "3a 01 00", "0a 00", "21 00 00 00 00 00 00 00 00", "25 00 00 00 00"] {
            XCTAssertEqual(try Response(decoding: bytes("08 05 " + piece)), Response(tag: 5), piece)
        }
    }

    func testLastValueWins() throws {
        XCTAssertEqual(try Request(decoding: bytes("08 01 22 01 61 08 02 22 01 62")), Request(tag: 2, path: "b"))
        XCTAssertEqual(try Response(decoding: bytes("a0 06 05 a0 06 7f")), Response(errCode: .other))
    }

    func testUnknownVerbAndErrorNumbersArePreserved() throws {
        let request = Request(tag: 1, verb: 4)
        XCTAssertEqual(request.verb, 4)
        XCTAssertEqual(try Request(decoding: request.encoded()), request)
        let response = Response(tag: 1, errCode: 55)
        XCTAssertEqual(response.encoded(), bytes("08 01 a0 06 37"))
        XCTAssertEqual(try Response(decoding: response.encoded()), response)
    }

    // MARK: Malformed payloads

    func testMalformedPayloadsThrow() {
        let malformed = [
            "08",                                    // truncated varint
            "08 80",                                 // truncated varint
            "08 ff ff ff ff ff ff ff ff ff ff 01",   // 11-byte varint
            "80",                                    // truncated key
            "22 05 61 62 63",                        // length past end
            "22",                                    // missing length
            "22 ff ff ff ff ff ff ff ff 01",         // huge length
            "0b",                                    // group never ended
            "0b 08 01",                              // group never ended
            "0c",                                    // group end without a start
            "0b 14",                                 // group 1 ended as group 2
            "0b 13 0c 14",                           // groups ended in the wrong order
            String(repeating: "0b ", count: 65) + String(repeating: "0c ", count: 65),  // too deep
            "0e 00",                                 // wire type 6
            "0f 00",                                 // wire type 7
            "0d 01 02",                              // truncated fixed32
            "09 01 02 03",                           // truncated fixed64
            "08 01 05 00",                           // field number 0
        ]
        for payloadHex in malformed {
            let payload = bytes(payloadHex)
            XCTAssertThrowsError(try Request(decoding: payload), payloadHex) { XCTAssertTrue($0 is WireError) }
            XCTAssertThrowsError(try Response(decoding: payload), payloadHex) { XCTAssertTrue($0 is WireError) }
            XCTAssertThrowsError(try payload.withUnsafeBytes { try RequestView(decoding: $0) }, payloadHex)
        }
    }

    func testTypedThrowsCarryAReason() {
        do {
            _ = try Request(decoding: bytes("0e"))
            XCTFail("decoded wire type 6")
        } catch {
            XCTAssertFalse(error.reason.isEmpty)  // `error` is statically a WireError
        }
    }

    // MARK: Framing

    func testFramingScan() {
        func scan(_ hexBytes: String, max: Int = Framing.defaultMaxFrame) -> Framing.Scan {
            bytes(hexBytes).withUnsafeBytes { Framing.scan($0, maxFrame: max) }
        }
        XCTAssertEqual(scan(""), .incomplete)
        XCTAssertEqual(scan("00 00 00"), .incomplete)
        XCTAssertEqual(scan("00 00 00 00"), .frame(payloadCount: 0))
        XCTAssertEqual(scan("00 00 00 02 08"), .incomplete)
        XCTAssertEqual(scan("00 00 00 02 08 01"), .frame(payloadCount: 2))
        XCTAssertEqual(scan("00 00 00 02 08 01 00 00"), .frame(payloadCount: 2))
        XCTAssertEqual(scan("ff ff ff ff"), .tooLarge(length: 0xffff_ffff))
        XCTAssertEqual(scan("ff ff ff ff 00 01 02"), .tooLarge(length: 0xffff_ffff))
        XCTAssertEqual(scan("80 00 00 00"), .tooLarge(length: 0x8000_0000))
        XCTAssertEqual(scan("01 00 00 01"), .tooLarge(length: (16 << 20) + 1))
        XCTAssertEqual(scan("01 00 00 00"), .incomplete)  // exactly the default maximum is allowed
        XCTAssertEqual(scan("00 00 00 03 01 02 03", max: 3), .frame(payloadCount: 3))
        XCTAssertEqual(scan("00 00 00 04 01 02 03 04", max: 3), .tooLarge(length: 4))
        XCTAssertEqual(scan("00 00 00 00", max: 0), .frame(payloadCount: 0))
        XCTAssertEqual(Framing.scan(UnsafeRawBufferPointer(start: nil, count: 0), maxFrame: 10), .incomplete)
    }

    func testFramingHeader() {
        XCTAssertEqual(Framing.headerSize, 4)
        XCTAssertEqual(Framing.defaultMaxFrame, 16 * 1024 * 1024)
        var out = [UInt8](repeating: 0xEE, count: 6)
        out.withUnsafeMutableBytes { Framing.writeHeader(0x0102_0304, to: $0.baseAddress! + 1) }
        XCTAssertEqual(out, [0xEE, 1, 2, 3, 4, 0xEE])
        XCTAssertEqual(Framing.frame([]), [0, 0, 0, 0])
        XCTAssertEqual(Framing.frame([9, 8]), [0, 0, 0, 2, 9, 8])
    }

    // MARK: Agreement between the views and the owned messages

    func testRequestViewAndRequestDecodeAgree() throws {
        var rng = SplitMix64(seed: 1)
        for _ in 0..<500 {
            let request = rng.request()
            let payload = request.encoded()
            let owned = try Request(decoding: payload)
            XCTAssertEqual(owned, request)
            let viewListing = try payload.withUnsafeBytes { listing(try RequestView(decoding: $0)) }
            XCTAssertEqual(viewListing, listing(owned))
        }
    }

    func testResponseFieldsEncodeMatchesResponseEncoded() throws {
        var rng = SplitMix64(seed: 2)
        for _ in 0..<500 {
            let response = rng.response()
            let payload = response.encoded()
            XCTAssertEqual(encodeWithResponseFields(response), payload)
            XCTAssertEqual(try Response(decoding: payload), response)
        }
    }

    func testNonASCIIStringsRoundTrip() throws {
        let request = Request(path: "/café/日本")
        XCTAssertEqual(try Request(decoding: request.encoded()), request)
        let response = Response(path: "/ü", errDetail: "invalid glob pattern: /[ü")
        XCTAssertEqual(try Response(decoding: response.encoded()), response)
    }
}
