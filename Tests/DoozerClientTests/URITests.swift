@testable import DoozerClient
import DoozerWire
import XCTest

final class URITests: XCTestCase {
    func testValidForms() throws {
        let table: [(String, DoozerURI)] = [
            ("doozer:?ca=127.0.0.1:8046", DoozerURI(addresses: ["127.0.0.1:8046"])),
            ("doozer:?ca=10.0.1.1:8046&ca=10.0.1.2:8046&ca=10.0.1.3:8046&sk=s3cret",
             DoozerURI(addresses: ["10.0.1.1:8046", "10.0.1.2:8046", "10.0.1.3:8046"], secret: Array("s3cret".utf8))),
            ("doozer:?cn=example", DoozerURI(clusterName: "example")),
            ("doozer:?ca=example.org", DoozerURI(addresses: ["example.org:8046"])),
            ("doozer:?ca=10.0.0.1&ca=10.0.0.2:9", DoozerURI(addresses: ["10.0.0.1:8046", "10.0.0.2:9"])),
            ("doozer:?ca=[::1]", DoozerURI(addresses: ["[::1]:8046"])),
            ("doozer:?ca=[::1]:7", DoozerURI(addresses: ["[::1]:7"])),
            ("doozer:?ca=::1", DoozerURI(addresses: ["[::1]:8046"])),
            ("doozer:?ca=h:", DoozerURI(addresses: ["h:8046"])),
            ("doozer:?ca=127.0.0.1%3A8047", DoozerURI(addresses: ["127.0.0.1:8047"])),
            ("doozer:?sk=a%20b+c%26d%3D&ca=h:1&sk=second", DoozerURI(addresses: ["h:1"], secret: Array("a b c&d=".utf8))),
            ("doozer:?sk=%ff%00&ca=h:1", DoozerURI(addresses: ["h:1"], secret: [0xff, 0x00])),
            ("doozer:?cn=one&cn=two&un=ignored&x=y", DoozerURI(clusterName: "one")),
            ("doozer:?&&ca=h:1&", DoozerURI(addresses: ["h:1"])),
            ("doozer:?ca=&cn=n", DoozerURI(clusterName: "n")),
            ("doozer:?sk=&ca=h:1", DoozerURI(addresses: ["h:1"], secret: [])),
            ("doozer:?c%61=h:2", DoozerURI(addresses: ["h:2"])),
        ]
        for (text, expected) in table {
            XCTAssertEqual(try DoozerURI(parsing: text), expected, text)
        }
    }

    func testInvalidForms() {
        let invalid = [
            "", "doozer:", "doozer:?", "doozer?:ca=127.0.0.1:8046", "http://x", "doozer://x?ca=h:1",
            "DOOZER:?ca=h:1", " doozer:?ca=h:1", "doozer:?sk=only", "doozer:?ca=", "doozer:?cn=",
            "doozer:?ca=h:1%", "doozer:?ca=h:1%4", "doozer:?ca=%zz", "doozer:?un=abc", "doozer:?ca",
        ]
        for text in invalid {
            XCTAssertThrowsError(try DoozerURI(parsing: text), text) { error in
                XCTAssertEqual(error as? DoozerError, .invalidURI, text)
            }
        }
    }
}

final class ErrorTextTests: XCTestCase {
    func testDescriptions() {
        let table: [(DoozerError, String)] = [
            (.server(code: .revMismatch, detail: nil), "REV_MISMATCH"),
            (.server(code: .other, detail: "permission denied"), "OTHER: permission denied"),
            (.server(code: .other, detail: "invalid glob pattern: /bad/"), "OTHER: invalid glob pattern: /bad/"),
            (.server(code: .isDir, detail: ""), "ISDIR"),
            (.server(code: .noEnt, detail: nil), "NOENT"),
            (.closed, "closed"),
            (.waitTimeout, "wait timeout"),
            (.invalidURI, "invalid uri"),
            (.noKnownAddress, "no known address"),
            (.connection("dial tcp 127.0.0.1:1: connect: connection refused"), "dial tcp 127.0.0.1:1: connect: connection refused"),
            (.timeout, "timeout"),
            (.connectionLost, "connection lost"),
            (.malformedResponse("truncated varint"), "malformed response: truncated varint"),
        ]
        for (error, text) in table { XCTAssertEqual(error.description, text) }
        XCTAssertEqual(DoozerError.server(code: .readonly, detail: nil).code, .readonly)
        XCTAssertNil(DoozerError.closed.code)
    }

    func testCodeNames() {
        let names: [ErrorCode: String] = [
            .other: "OTHER", .tagInUse: "TAG_IN_USE", .unknownVerb: "UNKNOWN_VERB", .readonly: "READONLY",
            .tooLate: "TOO_LATE", .revMismatch: "REV_MISMATCH", .badPath: "BAD_PATH", .missingArg: "MISSING_ARG",
            .range: "RANGE", .notDir: "NOTDIR", .isDir: "ISDIR", .noEnt: "NOENT",
        ]
        XCTAssertEqual(names.count, ErrorCode.allCases.count)
        for code in ErrorCode.allCases { XCTAssertEqual(code.protocolName, names[code]) }
    }

    func testRetryClassification() {
        XCTAssertFalse(DoozerClient.isRepeatable(Request(verb: .set, path: "/a", rev: -1)))
        XCTAssertFalse(DoozerClient.isRepeatable(Request(verb: .del, path: "/a", rev: -1)))
        XCTAssertFalse(DoozerClient.isRepeatable(Request(verb: .nop)))
        XCTAssertTrue(DoozerClient.isRepeatable(Request(verb: .set, path: "/a", rev: 0)))
        XCTAssertTrue(DoozerClient.isRepeatable(Request(verb: .del, path: "/a", rev: 7)))
        for verb in [Verb.get, .stat, .getdir, .walk, .wait, .rev, .self, .access] {
            XCTAssertTrue(DoozerClient.isRepeatable(Request(verb: verb)), "\(verb)")
        }
    }
}

final class TagAllocatorTests: XCTestCase {
    func testCountsFromZeroAndSkipsTagsInUse() {
        var tags = TagAllocator()
        var inUse: Set<Int32> = []
        for expected in Int32(0)..<5 {
            let tag = tags.next { inUse.contains($0) }
            XCTAssertEqual(tag, expected)
            inUse.insert(tag)
        }
        inUse = [1, 3]
        var fresh = TagAllocator()
        XCTAssertEqual(fresh.next { inUse.contains($0) }, 0)
        XCTAssertEqual(fresh.next { inUse.contains($0) }, 2)
        XCTAssertEqual(fresh.next { inUse.contains($0) }, 4)
        inUse = [5, 6, 7]
        XCTAssertEqual(fresh.next { inUse.contains($0) }, 8)
    }

    func testWrapsAround() {
        var tags = TagAllocator()
        var calls = 0
        // Everything from 0 is "in use" up to 2: exercise skipping from the start.
        XCTAssertEqual(tags.next { calls += 1; return $0 < 2 }, 2)
        XCTAssertEqual(calls, 3)
        var high = TagAllocator(counter: .max - 1)
        XCTAssertEqual(high.next { $0 == .max - 1 }, Int32.max)
        XCTAssertEqual(high.next { _ in false }, 0, "wraps back to 0")
    }
}
