@testable import DoozerWeb
import XCTest

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
            "G(T / HTTP/1.1\r\n\r\n", "GET http://x/ HTTP/1.1\r\n\r\n", "GET * HTTP/1.1\r\n\r\n",
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

    /// Random bytes, random printable soup and mutated valid heads, fed whole and in random
    /// pieces: the parser must always answer (never trap) and never claim more bytes than it got.
    func testFuzzNeverCrashes() {
        var rng = SystemRandomNumberGenerator()
        let valid = Array("GET /ctl/?token=x HTTP/1.1\r\nHost: a\r\nAuthorization: Basic eDp5\r\n\r\n".utf8)
        let alphabet = Array("GET /%: \r\n\t?=&HTTP/1.0abc\u{0}\u{7F}".utf8) + [0xFF, 0xC3, 0x80]
        for round in 0..<3000 {
            var input: [UInt8]
            switch round % 3 {
            case 0: input = (0..<Int.random(in: 0...600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case 1: input = (0..<Int.random(in: 0...600, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            default:
                input = valid
                for _ in 0..<Int.random(in: 1...6, using: &rng) {
                    let at = Int.random(in: 0..<input.count, using: &rng)
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0: input[at] = UInt8.random(in: 0...255, using: &rng)
                    case 1: input.remove(at: at)
                    default: input.insert(alphabet.randomElement(using: &rng)!, at: at)
                    }
                    if input.isEmpty { break }
                }
            }
            var parser = HTTPHeadParser(maxHeadSize: 512, maxHeaderCount: 8)
            var end = 0
            while true {
                end = min(input.count, end + Int.random(in: 1...64, using: &rng))
                let outcome = Array(input[0..<end]).withUnsafeBytes { parser.parse($0) }
                if case .head(let h, let length) = outcome {
                    XCTAssertLessThanOrEqual(length, end)
                    XCTAssertTrue(h.method == "GET" || !h.method.isEmpty)
                    _ = h.queryParameter("token")
                    _ = WebAccess.readAllowed(h, readWrite: [1], readOnly: [2])
                    _ = WebRouter.route(h, readAllowed: true)
                    break
                }
                if case .reject = outcome { break }
                if end == input.count { break }
            }
        }
    }
}
