import DoozerStore
@testable import DoozerWeb
import Foundation
import XCTest
import DoozerTestSupport

private func basic(_ credentials: String) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    let bytes = Array(credentials.utf8)
    var out = ""
    var i = 0
    while i < bytes.count {
        let n = min(3, bytes.count - i)
        var v = UInt32(bytes[i]) << 16
        if n > 1 { v |= UInt32(bytes[i + 1]) << 8 }
        if n > 2 { v |= UInt32(bytes[i + 2]) }
        for k in 0..<4 { out.append(k <= n ? alphabet[Int(v >> UInt32(18 - 6 * k) & 63)] : "=") }
        i += 3
    }
    return "Basic " + out
}

private func request(_ target: String, method: String = "GET", headers: [String] = []) -> HTTPRequestHead {
    let text = "\(method) \(target) HTTP/1.1\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n"
    guard let h = head(text) else { preconditionFailure("bad test request \(text)") }
    return h
}

final class WebAccessTests: XCTestCase {
    let rw = Array("rw-secret".utf8), ro = Array("ro".utf8)

    func testBase64() {
        XCTAssertEqual(WebAccess.base64Decode(Array("eDpy".utf8)), Array("x:r".utf8))
        XCTAssertEqual(WebAccess.base64Decode(Array("YQ==".utf8)), Array("a".utf8))
        XCTAssertEqual(WebAccess.base64Decode(Array("YWI=".utf8)), Array("ab".utf8))
        XCTAssertEqual(WebAccess.base64Decode([]), [])
        for bad in ["YQ=", "Y===", "=QQQ", "YQ==YQ==", "YQ=a", "a b="] {
            XCTAssertNil(WebAccess.base64Decode(Array(bad.utf8)), bad)
        }
    }

    func testBothSecretsNeedOne() {
        func allowed(_ r: HTTPRequestHead) -> Bool { WebAccess.readAllowed(r, readWrite: rw, readOnly: ro) }
        XCTAssertFalse(allowed(request("/")))
        XCTAssertFalse(allowed(request("/?token=wrong")))
        XCTAssertFalse(allowed(request("/?token=")))
        XCTAssertTrue(allowed(request("/?token=ro")))
        XCTAssertTrue(allowed(request("/?token=rw-secret")))
        XCTAssertTrue(allowed(request("/", headers: ["Authorization: \(basic("anyone:ro"))"])))
        XCTAssertTrue(allowed(request("/", headers: ["authorization: \(basic(":rw-secret"))"])))
        // The scheme is case-insensitive; the password is everything after the first colon.
        XCTAssertTrue(allowed(request("/", headers: ["Authorization: \(basic("u:ro"))".replacingOccurrences(of: "Basic", with: "bAsIc")])))
        XCTAssertFalse(allowed(request("/", headers: ["Authorization: \(basic("u:p:ro"))"])))
        XCTAssertTrue(allowed(request("/", headers: ["Authorization: \(basic("u:rw-secret"))"])))
        XCTAssertFalse(allowed(request("/", headers: ["Authorization: \(basic("u:wrong"))"])))
        XCTAssertFalse(allowed(request("/", headers: ["Authorization: Basic !!!!"])))
        XCTAssertFalse(allowed(request("/", headers: ["Authorization: Bearer ro"])))
        XCTAssertFalse(allowed(request("/", headers: ["Authorization: \(basic("nocolon"))"])))
        // A wrong Basic password does not hide a good token.
        XCTAssertTrue(allowed(request("/?token=ro", headers: ["Authorization: \(basic("u:wrong"))"])))
    }

    func testSameMatrixAsTheClientPort() {
        // §2.8: the empty secret is presented by default and matches an empty secret.
        XCTAssertTrue(WebAccess.readAllowed(request("/"), readWrite: [], readOnly: []))
        XCTAssertTrue(WebAccess.readAllowed(request("/"), readWrite: rw, readOnly: []))
        XCTAssertTrue(WebAccess.readAllowed(request("/"), readWrite: [], readOnly: ro))
        // Credentials only add rights (like a failed ACCESS): a wrong or malformed one is
        // answered like none at all.
        for wrong in [request("/?token=x"), request("/?token="), request("/", headers: ["Authorization: \(basic("u:x"))"]),
                      request("/", headers: ["Authorization: Bearer x"])] {
            XCTAssertTrue(WebAccess.readAllowed(wrong, readWrite: rw, readOnly: []), wrong.target)
            XCTAssertTrue(WebAccess.readAllowed(wrong, readWrite: [], readOnly: ro), wrong.target)
            XCTAssertTrue(WebAccess.readAllowed(wrong, readWrite: [], readOnly: []), wrong.target)
        }
    }
}

final class WebRouterTests: XCTestCase {
    func testRoutes() {
        func route(_ target: String, _ method: String = "GET", read: Bool = true) -> WebRoute {
            WebRouter.route(request(target, method: method), readAllowed: read)
        }
        XCTAssertEqual(route("/"), .viewer(directory: Array("/".utf8)))
        XCTAssertEqual(route("/ctl/"), .viewer(directory: Array("/ctl/".utf8)))
        XCTAssertEqual(route("/nope/", "HEAD"), .viewer(directory: Array("/nope/".utf8)))
        XCTAssertEqual(route("/ctl"), .reject(.notFound))
        XCTAssertEqual(route("/debug/vars"), .reject(.notFound))
        XCTAssertEqual(route("/$stats.html"), .reject(.notFound))
        XCTAssertEqual(route("/$main.js"), .asset(.script))
        XCTAssertEqual(route("/%24main.css"), .asset(.stylesheet))
        XCTAssertEqual(route("/$main.js", read: false), .asset(.script))
        XCTAssertEqual(route("/$cluster.json"), .cluster)
        XCTAssertEqual(route("/health", read: false), .health, "probes carry no secret")
        XCTAssertEqual(route("/ready", "HEAD", read: false), .ready)
        XCTAssertEqual(route("/health/"), .viewer(directory: Array("/health/".utf8)), "a directory of that name stays a page")
        XCTAssertEqual(route("/ready", "POST"), .reject(.methodNotAllowed))
        XCTAssertEqual(route("/$events/ctl/"), .events(directory: Array("/ctl/".utf8), glob: Glob("/ctl/**")!))
        XCTAssertEqual(route("/$events/"), .events(directory: Array("/".utf8), glob: Glob("/**")!))
        XCTAssertEqual(route("/$events/ctl"), .reject(.notFound))
        XCTAssertEqual(route("/$events"), .reject(.notFound))
        XCTAssertEqual(route("/$events/a%20b/"), .reject(.badGlob))
        XCTAssertEqual(route("/", "POST"), .reject(.methodNotAllowed))
        XCTAssertEqual(route("/", "get"), .reject(.methodNotAllowed))
        for target in ["/", "/ctl/", "/$cluster.json", "/$events/"] {
            XCTAssertEqual(route(target, read: false), .reject(.unauthorized), target)
        }
    }

    func testReadiness() {
        func answer(_ readiness: NodeReadiness) -> (status: Int, body: String) {
            let response = readiness.response
            return (response.status.rawValue, String(decoding: response.body, as: UTF8.self))
        }
        let caughtUp = answer(NodeReadiness(role: .leader, rev: 57, behind: 0, inContact: true))
        XCTAssertEqual(caughtUp.status, 200)
        XCTAssertEqual(caughtUp.body, #"{"ready":true,"role":"leader","rev":57,"behind":0,"in_contact":true}"# + "\n")
        XCTAssertEqual(answer(NodeReadiness(role: .member, rev: 9, behind: NodeReadiness.maxBehind, inContact: true)).status, 200)
        let behind = answer(NodeReadiness(role: .slave, rev: 9, behind: NodeReadiness.maxBehind + 1, inContact: true))
        XCTAssertEqual(behind.status, 503)
        XCTAssertTrue(behind.body.contains(#""reason":"101 decided instances not applied yet""#), behind.body)
        let cutOff = answer(NodeReadiness(role: .member, rev: 9, behind: 0, inContact: false, cutOffSeconds: 3))
        XCTAssertEqual(cutOff.status, 503)
        XCTAssertEqual(cutOff.body, #"{"ready":false,"role":"member","rev":9,"behind":0,"in_contact":false,"cut_off_s":3,"#
                       + #""reason":"no contact with a majority of the cluster"}"# + "\n")
        XCTAssertTrue(answer(NodeReadiness(role: .slave, rev: 9, behind: 0, inContact: false)).body.contains("upstream"))
        let health = NodeReadiness.healthResponse(rev: 12)
        XCTAssertEqual(health.status, .ok)
        XCTAssertEqual(String(decoding: health.body, as: UTF8.self), #"{"status":"serving","rev":12}"# + "\n")
        XCTAssertTrue(String(decoding: health.encoded(), as: UTF8.self).contains("Content-Type: application/json; charset=utf-8\r\n"))
    }

    func testResponses() {
        let unauthorized = String(decoding: HTTPResponse.Kind.unauthorized.response.encoded(), as: UTF8.self)
        XCTAssertTrue(unauthorized.hasPrefix("HTTP/1.1 401 Unauthorized\r\n"))
        XCTAssertTrue(unauthorized.contains("\r\nWWW-Authenticate: Basic realm=\"doozer\""))
        let notFound = String(decoding: HTTPResponse.Kind.notFound.response.encoded(), as: UTF8.self)
        XCTAssertTrue(notFound.hasPrefix("HTTP/1.1 404 Not Found\r\n"))
        XCTAssertTrue(notFound.hasSuffix("Content-Length: 0\r\n\r\n"))
        let asset = WebAsset.script.response
        let headOnly = asset.encoded(includeBody: false)
        XCTAssertTrue(String(decoding: headOnly, as: UTF8.self).contains("Content-Length: \(asset.body.count)\r\n\r\n"))
        XCTAssertEqual(asset.encoded().count, headOnly.count + asset.body.count)
        let stream = String(decoding: HTTPResponse.eventStreamHead(), as: UTF8.self)
        XCTAssertTrue(stream.contains("Content-Type: text/event-stream"))
        XCTAssertFalse(stream.contains("Content-Length"))
    }

    func testAssetsAreSelfContained() {
        for asset in [WebAsset.script, .stylesheet] {
            XCTAssertFalse(asset.text.contains("http:"), "\(asset)")
            XCTAssertFalse(asset.text.contains("https:"), "\(asset)")
            XCTAssertFalse(asset.text.contains("//cdn"), "\(asset)")
        }
        XCTAssertTrue(WebAsset.script.text.contains("EventSource"))
        XCTAssertFalse(WebAsset.script.text.contains("innerHTML"))
        XCTAssertEqual(WebAsset.script.contentType, "application/javascript; charset=utf-8")
        XCTAssertEqual(WebAsset.stylesheet.contentType, "text/css; charset=utf-8")
    }
}

final class WebEncodingTests: XCTestCase {
    func json(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        JSONWriter.appendString(bytes, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    func testJSONStrings() {
        XCTAssertEqual(json(Array("plain".utf8)), "\"plain\"")
        XCTAssertEqual(json(Array("a\"b\\c\nd\re\tf\u{1}g".utf8)), #""a\"b\\c\nd\re\tf\u0001g""#)
        XCTAssertEqual(json(Array("</script><&>".utf8)), #""\u003c/script\u003e\u003c\u0026\u003e""#)
        XCTAssertEqual(json(Array("é\u{2028}".utf8)), "\"é\\u2028\"")
        XCTAssertEqual(json([0x61, 0xFF, 0x62]), "\"a\u{FFFD}b\"")
    }

    func testEventMessages() {
        let set = Event(seqn: 573, path: Array("/ctl/err".utf8), body: Array("rev mismatch".utf8), kind: .set, rev: 573,
                        error: .revMismatch, mutation: Array("1:/wsy=q".utf8))
        XCTAssertEqual(String(decoding: EventMessage(set).encoded(directory: Array("/ctl/".utf8)), as: UTF8.self),
                       #"data: {"Seqn":573,"Path":"/err","Body":"rev mismatch","Rev":573,"Mut":"1:/wsy=q","Err":"rev mismatch"}"#
                           + "\n\n")
        let nop = Event(seqn: 569, path: Array("/".utf8), body: [], kind: .nop, rev: -3, error: nil, mutation: Array("nop:".utf8))
        XCTAssertEqual(String(decoding: EventMessage(nop).encoded(directory: Array("/".utf8)), as: UTF8.self),
                       #"data: {"Seqn":569,"Path":"/","Body":"","Rev":-3,"Mut":"nop:","Err":null}"# + "\n\n")
        XCTAssertEqual(String(decoding: EventStreamEncoding.listing(path: Array("/ctl/name".utf8), body: Array("local".utf8), rev: 1,
                                                                     directory: Array("/ctl/".utf8)), as: UTF8.self),
                       "data: " + #"{"Seqn":0,"Path":"/name","Body":"local","Rev":1,"Mut":"","Err":null}"# + "\n\n")
        XCTAssertEqual(String(decoding: EventStreamEncoding.missingDirectory(), as: UTF8.self),
                       "data: " + #"{"Seqn":0,"Path":"","Body":"","Rev":0,"Mut":"","Err":null}"# + "\n\n")
        // Line breaks in bodies never break the SSE framing.
        let multi = EventStreamEncoding.listing(path: Array("/a".utf8), body: Array("x\n\ny\r".utf8), rev: 2, directory: [0x2F])
        XCTAssertEqual(multi.filter { $0 == 0x0A }.count, 2)
    }

    /// One encoding serves every stream: only the head differs with the directory.
    func testOneEventMessageServesEveryDirectory() {
        let event = Event(seqn: 9, path: Array("/a/b/c".utf8), body: Array("<v>".utf8), kind: .set, rev: 9, error: nil,
                          mutation: Array("8:/a/b/c=<v>".utf8))
        let message = EventMessage(event)
        XCTAssertEqual(String(decoding: message.tail, as: UTF8.self),
                       #","Body":"\u003cv\u003e","Rev":9,"Mut":"8:/a/b/c=\u003cv\u003e","Err":null}"# + "\n\n")
        for (directory, path) in [("/", "/a/b/c"), ("/a/", "/b/c"), ("/a/b/", "/c")] {
            XCTAssertEqual(String(decoding: message.head(directory: Array(directory.utf8)), as: UTF8.self),
                           #"data: {"Seqn":9,"Path":"\#(path)""#, directory)
        }
        XCTAssertLessThanOrEqual(EventMessage.lowerBound(of: event), message.tail.count)
    }

    /// The ASCII fast path escapes exactly as decoding every scalar does (seeded; replay with
    /// DOOZER_JSON_SEED=s).
    func testStringEscapingMatchesScalarByScalarDecoding() {
        let seed = ProcessInfo.processInfo.environment["DOOZER_JSON_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(seed: seed)
        let pieces: [[UInt8]] = [Array("a\"\\<>&\n\r\t\u{7F}\u{1}".utf8), Array("é€😀\u{2028}\u{2029}".utf8), [0x80, 0xC3, 0xE2, 0x80, 0xF0, 0xFF]]
        for round in 0..<2000 {
            var input: [UInt8] = []
            for _ in 0..<rng.below(12) {
                let piece = pieces[rng.below(pieces.count)]
                input += piece[rng.below(piece.count)...].prefix(1 + rng.below(4))
            }
            XCTAssertEqual(json(input), Self.reference(input), "seed \(seed) round \(round): \(input)")
        }
    }

    /// Escaping done the slow, obvious way: every scalar on its own.
    private static func reference(_ value: [UInt8]) -> String {
        var out = "\""
        for scalar in String(decoding: value, as: UTF8.self).unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || "<>&\u{2028}\u{2029}\u{7F}".unicodeScalars.contains(scalar):
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    func testHTMLEscape() {
        XCTAssertEqual(HTML.escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;")
        XCTAssertEqual(HTML.escape([0x3C, 0xFF]), "&lt;\u{FFFD}")
    }

    func snapshot(_ files: [(String, String)]) -> Snapshot {
        var s = Snapshot(emptyAt: 10)
        for (path, body) in files { XCTAssertTrue(s.insertFile(path, body: Array(body.utf8), rev: 3)) }
        return s
    }

    func testViewerPageEscapesEverything() {
        let page = ViewerPage.html(clusterName: "c<1>", directory: Array("/<script>alert(1)</script>/".utf8),
                                   nodeID: "ID\"x", snapshot: snapshot([]), stats: WebStats())
        XCTAssertTrue(page.contains("<title>c&lt;1&gt; /&lt;script&gt;alert(1)&lt;/script&gt;/ doozer viewer</title>"), page)
        XCTAssertFalse(page.contains("<script>alert"))
        XCTAssertTrue(page.contains("data-path=\"/&lt;script&gt;alert(1)&lt;/script&gt;/\""))
        XCTAssertTrue(page.contains("ID&quot;x"))
        XCTAssertFalse(page.contains("http:"))
        XCTAssertTrue(page.contains("<script src=\"/$main.js\" defer></script>"))
        XCTAssertTrue(page.contains("href=\"/%3Cscript%3Ealert%281%29%3C/script%3E/\""))
    }

    func testClusterDocument() throws {
        let s = snapshot([
            ("/ctl/name", "local"), ("/ctl/cal/0", "AAA"), ("/ctl/cal/1", ""),
            ("/ctl/node/AAA/addr", "127.0.0.1:8046"), ("/ctl/node/AAA/applied", "99"),
            ("/ctl/node/BBB/addr", "127.0.0.2:8046"), ("/ctl/node/BBB/applied", "98"),
        ])
        let view = ClusterView(snapshot: s)
        XCTAssertEqual(view.members, [ClusterNode(id: "AAA", address: "127.0.0.1:8046", applied: "99", slot: "0")])
        XCTAssertEqual(view.slaves, [ClusterNode(id: "BBB", address: "127.0.0.2:8046", applied: "98", slot: nil)])
        var stats = WebStats()
        stats.rev = 10
        stats.requestsPerSecond = 5
        let text = String(decoding: ClusterDocument.json(clusterName: "local", nodeID: "BBB", snapshot: s, stats: stats), as: UTF8.self)
        XCTAssertTrue(text.hasPrefix(#"{"Cluster":"local","Self":"BBB","Role":"slave","Members":[{"Id":"AAA","Addr":"127.0.0.1:8046","Applied":"99","Slot":"0"}],"Slaves":[{"Id":"BBB""#), text)
        XCTAssertTrue(text.contains(#""Stats":{"Rev":10,"ClientConnections":0,"WebConnections":0,"EventStreams":0,"RequestsPerSecond":5,"WritesPerSecond":0,"Majority":"in contact"}"#), text)
        stats.cutOffSeconds = 3
        let cutOff = String(decoding: ClusterDocument.json(clusterName: "local", nodeID: "BBB", snapshot: s, stats: stats), as: UTF8.self)
        XCTAssertTrue(cutOff.contains(#""Majority":"cut off for 3 s: reads may be stale"}"#), cutOff)
    }
}
