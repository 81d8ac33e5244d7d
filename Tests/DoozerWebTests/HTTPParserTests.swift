@testable import DoozerWeb
import Foundation
import XCTest
import DoozerTestSupport

/// Parses `text` fed in one piece.
func parseAll(_ text: String, maxHeadSize: Int = 8192) -> HTTPHeadParser.Outcome {
    var parser = HTTPHeadParser(maxHeadSize: maxHeadSize)
    return Array(text.utf8).withUnsafeBytes { parser.parse($0) }
}

func head(_ text: String) -> HTTPRequestHead? {
    if case .head(let head, _) = parseAll(text) { return head }
    return nil
}

final class HTTPParserTests: XCTestCase {
    func testSimpleRequest() throws {
        let text = "GET /ctl/?token=a%20b+c&x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nAuthorization:  Basic eDpy  \r\n\r\nrest"
        guard case .head(let h, let length) = parseAll(text) else { return XCTFail("not parsed") }
        XCTAssertEqual(length, text.utf8.count - 4)
        XCTAssertEqual(h.method, "GET")
        XCTAssertEqual(h.target, "/ctl/?token=a%20b+c&x=1")
        XCTAssertEqual(h.path, Array("/ctl/".utf8))
        XCTAssertEqual(h.query, "token=a%20b+c&x=1")
        XCTAssertEqual(h.minorVersion, 1)
        XCTAssertEqual(h.header("host"), Array("127.0.0.1:8000".utf8))
        XCTAssertEqual(h.header("authorization"), Array("Basic eDpy".utf8))
        XCTAssertEqual(h.queryParameter("token"), Array("a b c".utf8))
        XCTAssertEqual(h.queryParameter("x"), Array("1".utf8))
        XCTAssertNil(h.queryParameter("y"))
    }

    func testBareLineFeedsLeadingBlankLinesAndHTTP10() {
        let h = head("\r\n\nGET /a%3Cb%3E/ HTTP/1.0\nX-A: 1\n\n")
        XCTAssertEqual(h?.path, Array("/a<b>/".utf8))
        XCTAssertEqual(h?.minorVersion, 0)
        XCTAssertEqual(h?.header("x-a"), Array("1".utf8))
    }

    func testIncrementalFeedingByteByByte() {
        let text = Array("GET /$events/ctl/ HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".utf8)
        var parser = HTTPHeadParser()
        for end in 1...text.count {
            let outcome = Array(text[0..<end]).withUnsafeBytes { parser.parse($0) }
            if end < text.count {
                XCTAssertEqual(outcome, .incomplete, "after \(end) bytes")
            } else if case .head(let h, let length) = outcome {
                XCTAssertEqual(length, text.count)
                XCTAssertEqual(h.path, Array("/$events/ctl/".utf8))
                XCTAssertEqual(h.header("accept"), Array("text/event-stream".utf8))
            } else {
                XCTFail("whole head not parsed: \(outcome)")
            }
        }
    }

    func testMalformedHeads() {
        for text in [
            "GET / HTTP/1.1 extra\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n", "GET /\r\n\r\n", "GET / FOO/1.1\r\n\r\n",
            "G(T / HTTP/1.1\r\n\r\n", "GET * HTTP/1.1\r\n\r\n", "GET ftp://x/ HTTP/1.1\r\n\r\n",
            "GET http:/x/ HTTP/1.1\r\n\r\n", "GET http:///a/ HTTP/1.1\r\n\r\n", "GET http://u@x/ HTTP/1.1\r\n\r\n",
            "GET x:80 HTTP/1.1\r\n\r\n", "GET http://x/%zz HTTP/1.1\r\n\r\n",
            "GET /%zz HTTP/1.1\r\n\r\n", "GET /%4 HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
            "GET / HTTP/1.1\r\n: empty\r\n\r\n", "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            "GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", "GET / HTTP/1.1\r\nA: x\u{1}y\r\n\r\n",
            "GET /\u{7F} HTTP/1.1\r\n\r\n",
        ] {
            XCTAssertEqual(parseAll(text), .reject(.badRequest), text.debugDescription)
        }
        XCTAssertEqual(parseAll("GET / HTTP/2.0\r\n\r\n"), .reject(.versionNotSupported))
    }

    func testLimits() {
        let big = "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 9000) + "\r\n\r\n"
        XCTAssertEqual(parseAll(big), .reject(.headersTooLarge))
        // Still incomplete but already past the limit.
        XCTAssertEqual(parseAll(String(repeating: "a", count: 9000)), .reject(.headersTooLarge))
        XCTAssertEqual(parseAll("GET / HTTP/1.1\r\nX: 1\r\n", maxHeadSize: 100), .incomplete)
        let many = "GET / HTTP/1.1\r\n" + (0..<65).map { "X-\($0): 1\r\n" }.joined() + "\r\n"
        XCTAssertEqual(parseAll(many), .reject(.headersTooLarge))
        XCTAssertEqual(parseAll(String(repeating: "\r\n", count: 5000)), .reject(.badRequest))
    }

    /// RFC 9112 §3.2.2: a server must accept the absolute form; its authority is not used.
    func testAbsoluteFormTargets() {
        let h = head("GET http://127.0.0.1:8000/ctl/a%20b/?token=x HTTP/1.1\r\nHost: elsewhere\r\n\r\n")
        XCTAssertEqual(h?.path, Array("/ctl/a b/".utf8))
        XCTAssertEqual(h?.query, "token=x")
        XCTAssertEqual(h?.queryParameter("token"), Array("x".utf8))
        XCTAssertEqual(h?.target, "http://127.0.0.1:8000/ctl/a%20b/?token=x")
        XCTAssertEqual(head("GET HTTPS://example HTTP/1.1\r\n\r\n")?.path, Array("/".utf8))
        let bare = head("GET http://example?token=y HTTP/1.1\r\n\r\n")
        XCTAssertEqual(bare?.path, Array("/".utf8))
        XCTAssertEqual(bare?.query, "token=y")
        XCTAssertEqual(head("GET hTtP://[::1]:8000/$events/ HTTP/1.0\r\n\r\n")?.path, Array("/$events/".utf8))
    }
}

/// Seeded random inputs for the head parser. `DOOZER_HTTP_FUZZ_SEED=s` replays one seed (every
/// failure names the seed it ran with); `DOOZER_HTTP_FUZZ_ROUNDS=n` changes the rounds.
final class HTTPParserFuzzTests: XCTestCase {
    private var seed: UInt64 = 0
    private var rng = SplitMix64(seed: 0)

    override func setUp() {
        let environment = ProcessInfo.processInfo.environment
        seed = environment["DOOZER_HTTP_FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        rng = SplitMix64(seed: seed)
    }

    private var rounds: Int { ProcessInfo.processInfo.environment["DOOZER_HTTP_FUZZ_ROUNDS"].flatMap(Int.init) ?? 3000 }

    /// Generated valid heads (random method, percent-encoded path bytes, query, headers) parse
    /// back to exactly what was generated, whole and fed in random pieces, with a body behind.
    func testGeneratedHeadsRoundTrip() {
        let tokenBytes = Array("abcXYZ019!#$%&'*+-.^_`|~".utf8)
        for round in 0..<rounds {
            let method = String(decoding: (0..<(1 + rng.below(8))).map { _ in tokenBytes[rng.below(tokenBytes.count)] }, as: UTF8.self)
            let path = [UInt8(ascii: "/")] + rng.bytes(rng.below(24))
            let query: String? = rng.below(2) == 0 ? nil : "token=" + rng.bytes(rng.below(12)).map { String(format: "%%%02X", $0) }.joined()
            let absolute = rng.below(3) == 0
            let target = (absolute ? "http://h\(rng.below(100)):\(rng.below(65536))" : "")
                + path.map { isUnreserved($0) ? String(UnicodeScalar($0)) : String(format: "%%%02X", $0) }.joined()
                + (query.map { "?" + $0 } ?? "")
            let headers: [(name: String, value: [UInt8])] = (0..<rng.below(6)).map { k in
                let value = (0..<rng.below(20)).map { _ in UInt8(0x21 + rng.below(0x5E)) }
                return ("x-\(k)-" + String(decoding: (0..<rng.below(4)).map { _ in tokenBytes[rng.below(tokenBytes.count)] }, as: UTF8.self).lowercased(), value)
            }
            let minor = rng.below(2)
            let lineEnd = rng.below(2) == 0 ? "\r\n" : "\n"
            var text = Array("\(method) \(target) HTTP/1.\(minor)\(lineEnd)".utf8)
            for header in headers {
                text += Array(header.name.utf8) + Array(": ".utf8) + header.value + Array(lineEnd.utf8)
            }
            text += Array(lineEnd.utf8)
            let length = text.count
            text += rng.bytes(rng.below(16))   // a body or the next request: never part of the head

            let expected = HTTPRequestHead(method: method, target: target, path: path, query: query, minorVersion: minor,
                                           headers: headers)
            let outcome = feedInPieces(text)
            XCTAssertEqual(outcome, .head(expected, length: length),
                           "seed \(seed) round \(round): \(String(decoding: text, as: UTF8.self).debugDescription)")
            if outcome != .head(expected, length: length) { return }
        }
    }

    /// Random bytes, random soup of HTTP-ish bytes and mutated valid heads: fed in random pieces
    /// the parser reaches the same outcome as on the whole input, never claims bytes it was not
    /// given, and whatever head it accepts satisfies the grammar it promises.
    func testArbitraryInputKeepsTheParsersPromises() {
        let valid = Array("GET /ctl/?token=x HTTP/1.1\r\nHost: a\r\nAuthorization: Basic eDp5\r\n\r\n".utf8)
        let alphabet = Array("GET /%: \r\n\t?=&HTTP/1.0abc\u{0}\u{7F}".utf8) + [0xFF, 0xC3, 0x80]
        let maxHeadSize = 512
        for round in 0..<rounds {
            var input: [UInt8]
            switch round % 3 {
            case 0: input = rng.bytes(rng.below(601))
            case 1: input = (0..<rng.below(601)).map { _ in alphabet[rng.below(alphabet.count)] }
            default:
                input = valid
                for _ in 0..<(1 + rng.below(6)) where !input.isEmpty {
                    let at = rng.below(input.count)
                    switch rng.below(3) {
                    case 0: input[at] = UInt8(truncatingIfNeeded: rng.next())
                    case 1: input.remove(at: at)
                    default: input.insert(alphabet[rng.below(alphabet.count)], at: at)
                    }
                }
            }
            let context = "seed \(seed) round \(round): \(String(decoding: input, as: UTF8.self).debugDescription)"
            let pieces = feedInPieces(input, maxHeadSize: maxHeadSize)
            var whole = HTTPHeadParser(maxHeadSize: maxHeadSize, maxHeaderCount: 8)
            let direct = input.withUnsafeBytes { whole.parse($0) }
            XCTAssertEqual(pieces, direct, context)
            guard case .head(let h, let length) = direct else { continue }
            XCTAssertLessThanOrEqual(length, min(input.count, maxHeadSize), context)
            XCTAssertEqual(input[length - 1], 0x0A, "a head ends with its blank line; \(context)")
            XCTAssertFalse(h.method.isEmpty, context)
            XCTAssertTrue(h.method.utf8.allSatisfy(isTokenByteForTest), context)
            XCTAssertTrue(h.target.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, context)
            XCTAssertEqual(h.path.first, UInt8(ascii: "/"), context)
            XCTAssertTrue(h.minorVersion == 0 || h.minorVersion == 1, context)
            XCTAssertLessThanOrEqual(h.headers.count, 8, context)
            for field in h.headers {
                XCTAssertFalse(field.name.isEmpty, context)
                XCTAssertEqual(field.name, field.name.lowercased(), context)
                XCTAssertFalse(field.value.contains(0x0A) || field.value.contains(0x0D), context)
                XCTAssertNotEqual(field.value.first, 0x20, context)
                XCTAssertNotEqual(field.value.last, 0x20, context)
            }
            // What reads a head must not trap on whatever it accepted.
            _ = WebAccess.readAllowed(h, readWrite: [1], readOnly: [2])
            _ = WebRouter.route(h, readAllowed: true)
        }
    }

    /// Feeds `input` to one parser in growing prefixes of random lengths until it decides.
    private func feedInPieces(_ input: [UInt8], maxHeadSize: Int = 8192) -> HTTPHeadParser.Outcome {
        var parser = HTTPHeadParser(maxHeadSize: maxHeadSize, maxHeaderCount: 8)
        var end = 0
        while true {
            end = min(input.count, end + 1 + rng.below(64))
            let outcome = Array(input[0..<end]).withUnsafeBytes { parser.parse($0) }
            if outcome != .incomplete || end == input.count { return outcome }
        }
    }

    private func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "/"):
            return true
        default:
            return false
        }
    }
}

private func isTokenByteForTest(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        return true
    default:
        return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
    }
}

