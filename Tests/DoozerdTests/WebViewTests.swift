// §7 / §12.14 web view, served over HTTP with server-sent events (B18 fixed), items 129–134
// as this implementation defines them: routes, escaping, the event stream, the stats.

import DoozerWire
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

final class WebViewTests: DoozerdTestCase {
    /// The web view on the server's own loopback address, on a port the kernel picks.
    override class var serverConfig: DoozerdProcess.Config? {
        var config = DoozerdProcess.Config(webEnabled: true)
        let host = Loopback.freshHost()
        config.host = host
        config.arguments = ["-w", "\(host):0"]
        return config
    }

    private func get(_ target: String, method: String = "GET", headers: [String] = []) throws -> HTTPReply {
        let (host, port) = try server.webEndpoint()
        return try WebClient.get(host: host, port: port, target, method: method, headers: headers)
    }

    private func title(_ html: String) -> String? {
        guard let start = html.range(of: "<title>"), let end = html.range(of: "</title>") else { return nil }
        return String(html[start.upperBound..<end.lowerBound])
    }

    // 12.14 #130
    func testViewerPages() throws {
        for (target, path) in [("/", "/"), ("/ctl/", "/ctl/"), ("/nope/", "/nope/")] {
            let reply = try get(target)
            XCTAssertEqual(reply.status, 200, "\(target): \(reply)")
            XCTAssertEqual(reply.contentType, "text/html; charset=utf-8", target)
            XCTAssertEqual(title(reply.text), "local \(path) doozer viewer", target)
            XCTAssertTrue(reply.text.contains(nodeID), "\(target): the page names this node")
            XCTAssertTrue(reply.text.contains(">member<"), "\(target): the page shows the role")
            XCTAssertTrue(reply.text.contains(server.address), "\(target): the page lists the member's address")
            XCTAssertFalse(reply.text.contains("http:"), "\(target): nothing from other hosts")
            XCTAssertNotNil(reply.headers["content-security-policy"])
        }
        let head = try get("/ctl/", method: "HEAD")
        XCTAssertEqual(head.status, 200)
        XCTAssertTrue(head.body.isEmpty, "HEAD has no body")
        XCTAssertGreaterThan(Int(head.headers["content-length"] ?? "") ?? 0, 0)
    }

    // 12.14 #130, B18
    func testNotFound() throws {
        for target in ["/ctl", "/debug/vars", "/$stats.html", "/$events/ctl", "/$events", "/favicon.ico"] {
            let reply = try get(target)
            XCTAssertEqual(reply.status, 404, "\(target): \(reply)")
            XCTAssertTrue(reply.body.isEmpty, target)
        }
    }

    // 12.14 #131
    func testAssets() throws {
        let script = try get("/$main.js")
        XCTAssertEqual(script.status, 200)
        XCTAssertEqual(script.contentType, "application/javascript; charset=utf-8")
        XCTAssertTrue(script.text.contains("EventSource"))
        let style = try get("/$main.css")
        XCTAssertEqual(style.status, 200)
        XCTAssertEqual(style.contentType, "text/css; charset=utf-8")
        for reply in [script, style] {
            XCTAssertFalse(reply.text.contains("http:") || reply.text.contains("https:"), "B18: no other hosts")
        }
    }

    // 12.14 #134 (fixed): the path cannot inject markup.
    func testPathIsEscaped() throws {
        let reply = try get("/%3Cscript%3Ealert(1)%3C/script%3E/")
        XCTAssertEqual(reply.status, 200)
        XCTAssertFalse(reply.text.lowercased().contains("<script>alert"), reply.text)
        XCTAssertEqual(title(reply.text), "local /&lt;script&gt;alert(1)&lt;/script&gt;/ doozer viewer")
        let quote = try get("/a%22onload=%22x/")
        XCTAssertFalse(quote.text.contains("\"onload=\""), quote.text)
    }

    func testMethodsAndMalformedRequests() throws {
        let (host, port) = try server.webEndpoint()
        let post = try get("/", method: "POST")
        XCTAssertEqual(post.status, 405)
        XCTAssertEqual(post.headers["allow"], "GET, HEAD")
        let garbage = try WebClient.exchange(host: host, port: port, raw: Array("HELLO\r\n\r\n".utf8))
        XCTAssertEqual(garbage.status, 400)
        let huge = "GET / HTTP/1.1\r\nX-Big: " + String(repeating: "a", count: 20000) + "\r\n\r\n"
        XCTAssertEqual(try WebClient.exchange(host: host, port: port, raw: Array(huge.utf8)).status, 431)
        let binary = (0..<300).map { _ in UInt8.random(in: 0...255) } + [13, 10, 13, 10]
        XCTAssertEqual(try WebClient.exchange(host: host, port: port, raw: binary).status, 400)
        // The client port did not notice.
        XCTAssertEqual(try connect().get("/ctl/name").text, "local")
    }

    func testClusterDocument() throws {
        let document = try server.clusterDocument()
        XCTAssertEqual(document["Cluster"] as? String, "local")
        XCTAssertEqual(document["Self"] as? String, nodeID)
        XCTAssertEqual(document["Role"] as? String, "member")
        let members = document["Members"] as? [[String: Any]] ?? []
        XCTAssertEqual(members.count, 1)
        XCTAssertEqual(members.first?["Id"] as? String, nodeID)
        XCTAssertEqual(members.first?["Addr"] as? String, server.address)
        XCTAssertGreaterThanOrEqual(Int(members.first?["Applied"] as? String ?? "") ?? 0, 57)
        XCTAssertEqual((document["Slaves"] as? [Any])?.count, 0)
        let stats = document["Stats"] as? [String: Any] ?? [:]
        XCTAssertGreaterThanOrEqual(stats["Rev"] as? Int ?? 0, 57)
        for key in ["ClientConnections", "WebConnections", "EventStreams", "RequestsPerSecond", "WritesPerSecond"] {
            XCTAssertNotNil(stats[key] as? Int, key)
        }
    }

    func testStatsCountConnectionsRequestsAndWrites() throws {
        let c = try connect()
        let path = "/" + unique("webstats")
        // Keep requests and writes flowing until a whole second of them shows in the rates.
        let deadline = now() + 10
        var stats: [String: Any] = [:]
        repeat {
            for _ in 0..<20 { _ = try c.rev() }
            _ = try c.mustSet(path, "x")
            stats = try server.clusterDocument()["Stats"] as? [String: Any] ?? [:]
        } while ((stats["RequestsPerSecond"] as? Int ?? 0) < 20 || (stats["WritesPerSecond"] as? Int ?? 0) < 1) && now() < deadline
        XCTAssertGreaterThanOrEqual(stats["RequestsPerSecond"] as? Int ?? 0, 20, "\(stats)")
        XCTAssertGreaterThanOrEqual(stats["WritesPerSecond"] as? Int ?? 0, 1, "\(stats)")
        XCTAssertGreaterThanOrEqual(stats["ClientConnections"] as? Int ?? 0, 1, "\(stats)")
        XCTAssertGreaterThanOrEqual(stats["WebConnections"] as? Int ?? 0, 1, "the stats request itself: \(stats)")
    }

    // 12.14 #132 (as server-sent events): the listing with Seqn 0 and relative paths, then
    // live events with Seqn = their revision.
    func testEventStreamListingThenLiveEvents() throws {
        let (host, port) = try server.webEndpoint()
        let stream = try EventStream(host: host, port: port, target: "/$events/ctl/")
        defer { stream.close() }
        XCTAssertTrue(stream.head.hasPrefix("HTTP/1.1 200 OK"), stream.head)
        XCTAssertTrue(stream.head.contains("Content-Type: text/event-stream"), stream.head)
        try stream.read(until: { $0.messages.contains { $0["Path"] as? String == "/name" } }, timeout: 5, what: "/name")
        let name = stream.messages.first { $0["Path"] as? String == "/name" }!
        XCTAssertEqual(name["Seqn"] as? Int, 0)
        XCTAssertEqual(name["Body"] as? String, "local")
        XCTAssertEqual(name["Rev"] as? Int, 1)
        XCTAssertEqual(name["Mut"] as? String, "")
        XCTAssertTrue(name["Err"] is NSNull)
        XCTAssertTrue(stream.messages.contains { $0["Path"] as? String == "/cal/0" && $0["Body"] as? String == nodeID })

        let leaf = unique("web")
        let rev = try connect().mustSet("/ctl/\(leaf)", "hello <b>")
        try stream.read(until: { $0.messages.contains { $0["Path"] as? String == "/\(leaf)" } }, timeout: 5, what: "the live SET")
        let live = stream.messages.first { $0["Path"] as? String == "/\(leaf)" }!
        XCTAssertEqual(live["Seqn"] as? Int, Int(rev))
        XCTAssertEqual(live["Rev"] as? Int, Int(rev))
        XCTAssertEqual(live["Body"] as? String, "hello <b>")
        XCTAssertEqual(live["Mut"] as? String, "-1:/ctl/\(leaf)=hello <b>")
        // Pulses keep coming too (12.14 #132).
        try stream.read(until: { $0.messages.contains { ($0["Path"] as? String)?.hasSuffix("/applied") == true && ($0["Seqn"] as? Int ?? 0) > 0 } },
                        timeout: 5, what: "a pulse")
    }

    /// Every matching event exactly once and in order, deletes and failures included; the
    /// listing of a missing directory is one empty message.
    func testEventStreamMissesNothingAndRepeatsNothing() throws {
        let (host, port) = try server.webEndpoint()
        let dir = "/" + unique("webdir")
        let stream = try EventStream(host: host, port: port, target: "/$events\(dir)/")
        defer { stream.close() }
        try stream.read(until: { !$0.messages.isEmpty }, timeout: 5, what: "the listing")
        XCTAssertEqual(stream.messages.first?["Path"] as? String, "")
        XCTAssertEqual(stream.messages.first?["Rev"] as? Int, 0)

        let c = try connect()
        var revs: [Int] = []
        for i in 0..<50 { revs.append(Int(try c.mustSet("\(dir)/f\(i % 7)", "v\(i)"))) }
        let delete = try c.del("\(dir)/f0", rev: -1)
        assertOK(delete, "DEL")
        _ = try c.mustSet("/" + unique("elsewhere"), "not streamed")
        let last = try c.mustSet("\(dir)/last", "end")
        try stream.read(until: { $0.messages.contains { $0["Path"] as? String == "/last" } }, timeout: 5, what: "the last SET")
        let live = stream.messages.dropFirst().map { ($0["Seqn"] as? Int ?? -1, $0["Path"] as? String ?? "?", $0["Rev"] as? Int ?? -9) }
        XCTAssertEqual(live.count, 52, "\(live)")
        XCTAssertEqual(live.prefix(50).map(\.0), revs, "every SET once, in order")
        XCTAssertEqual(live.prefix(50).map(\.1), (0..<50).map { "/f\($0 % 7)" })
        XCTAssertEqual(live[50].1, "/f0")
        XCTAssertEqual(live[50].2, 0, "a delete has Rev 0")
        XCTAssertEqual(live[51].0, Int(last))
    }

    func testClosingTheStreamCancelsIt() throws {
        let (host, port) = try server.webEndpoint()
        try server.waitForEventStreams(0)
        let stream = try EventStream(host: host, port: port, target: "/$events/")
        try server.waitForEventStreams(1)
        stream.close()
        try server.waitForEventStreams(0)
        XCTAssertEqual(try connect().get("/ctl/name").text, "local")
    }
}

/// `-w` problems end start-up with one line and status 1, like the client port.
final class WebFlagTests: DoozerdTestCase {
    override class var serverConfig: DoozerdProcess.Config? { nil }

    func testWebAddressInUseFailsStartUp() throws {
        let host = Loopback.freshHost()
        let port = try Loopback.freePort(on: host)
        let webPort = try Loopback.freePort(on: host)
        try XCTSkipIf(webPort == port, "the kernel handed out the same port twice")
        let holder = try Loopback.occupy(host, webPort)
        defer { close(holder) }
        let outcome = try runDoozerd(["-l", "\(host):\(port)", "-w", "\(host):\(webPort)"])
        XCTAssertEqual(outcome.status, 1, outcome.summary)
        XCTAssertFalse(outcome.timedOut, outcome.summary)
        XCTAssertTrue(outcome.stderr.contains("-w \(host):\(webPort)"), outcome.summary)
        XCTAssertEqual(outcome.stderr.split(separator: "\n").count, 1, outcome.summary)
    }
}
