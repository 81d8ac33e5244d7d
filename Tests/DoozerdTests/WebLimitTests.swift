// Issue 10: the web view's connection limits. One client host may hold only -webperclient
// connections, connections that send no request make room for ones that do at -webconns, and a
// request head must arrive within -webheadtimeout — so an attacker holding many connections
// never locks out a user with the read secret.

import Foundation
import XCTest

final class WebLimitTests: DoozerdTestCase {
    override class var serverConfig: DoozerdProcess.Config? { nil }

    private let secret = "ro"
    private var credentials: String { WebClient.basicAuthorization(secret) }

    /// A server with both secrets (so reading needs credentials) and small web limits.
    private func startWebServer(_ limits: [String]) throws -> (server: DoozerdProcess, host: String, port: UInt16) {
        var config = DoozerdProcess.Config(environment: ["DOOZER_RWSECRET": "rw", "DOOZER_ROSECRET": secret], webEnabled: true)
        let host = Loopback.freshHost()
        config.host = host
        config.arguments = ["-w", "\(host):0"] + limits
        let server = try startServer(config)
        let (webHost, port) = try server.webEndpoint()
        return (server, webHost, port)
    }

    /// Connections from `source` that send nothing.
    private func silentConnections(_ count: Int, from source: String, to host: String, _ port: UInt16) throws -> [TestConnection] {
        try (0..<count).map { _ in try TestConnection(host: host, port: port, source: source) }
    }

    func testOneClientHostCannotTakeEveryConnection() throws {
        let (server, host, port) = try startWebServer(["-webconns", "8", "-webperclient", "3", "-webheadtimeout", "60"])
        let attacker = Loopback.freshHost()
        // Two idle event streams (the attacker has the secret too) and one silent connection.
        let streams = try (0..<2).map { _ in
            try EventStream(host: host, port: port, target: "/$events/ctl/", headers: [credentials], source: attacker)
        }
        defer { streams.forEach { $0.close() } }
        let silent = try silentConnections(1, from: attacker, to: host, port)[0]
        defer { silent.close() }

        let fourth = try TestConnection(host: host, port: port, source: attacker)
        defer { fourth.close() }
        XCTAssertEqual(fourth.expectClosed(within: 10), .closed(extraBytes: 0), "a fourth connection from one host is closed at once")
        XCTAssertTrue(try String(contentsOf: server.stderrURL, encoding: .utf8).contains("-webperclient 3"),
                      "one log line names the limit; stderr:\n\(server.stderrTail())")

        // Another host gets in, and the attacker's three connections still work.
        let user = try WebClient.get(host: host, port: port, "/$cluster.json", headers: [credentials], source: Loopback.freshHost())
        XCTAssertEqual(user.status, 200, "\(user)")
        let held = try WebClient.exchange(on: silent, raw: WebClient.request(host: host, port: port, "/$cluster.json",
                                                                             headers: [credentials]))
        XCTAssertEqual(held.status, 200, "the host's earlier connections are untouched: \(held)")
        try server.waitForEventStreams(2, headers: [credentials])
    }

    func testConnectionsThatSendNothingCannotLockOutAnAuthenticatedUser() throws {
        let (_, host, port) = try startWebServer(["-webconns", "8", "-webperclient", "3", "-webheadtimeout", "60"])
        // Four hosts with three silent connections each: 12 for 8 places.
        var attackers: [TestConnection] = []
        defer { attackers.forEach { $0.close() } }
        for _ in 0..<4 {
            attackers += try silentConnections(3, from: Loopback.freshHost(), to: host, port)
        }
        let reply = try WebClient.get(host: host, port: port, "/ctl/", headers: [credentials], source: Loopback.freshHost())
        XCTAssertEqual(reply.status, 200, "\(reply)")
        let stream = try EventStream(host: host, port: port, target: "/$events/ctl/", headers: [credentials],
                                     source: Loopback.freshHost())
        defer { stream.close() }
        try stream.read(until: { $0.messages.contains { $0["Path"] as? String == "/name" } }, timeout: 5,
                        what: "the listing, while 12 connections without a request wait")

        // The oldest silent connections made room — four for the last attackers, one for the
        // page (whose place the stream then took) — and all the others are still open.
        for (index, connection) in attackers.enumerated() {
            if index < 5 {
                XCTAssertEqual(connection.expectClosed(within: 10), .closed(extraBytes: 0), "silent connection \(index)")
            } else {
                XCTAssertFalse(connection.isReadable(within: 0), "silent connection \(index) should still be open")
            }
        }
    }

    func testARequestHeadMustArriveInTime() throws {
        let (_, host, port) = try startWebServer(["-webheadtimeout", "0.5"])
        let silent = try TestConnection(host: host, port: port)
        defer { silent.close() }
        let partial = try TestConnection(host: host, port: port)
        defer { partial.close() }
        try partial.sendRaw(Array("GET /ctl/ HTTP/1.1\r\nHost: x\r\n".utf8))
        XCTAssertEqual(silent.expectClosed(within: 10), .closed(extraBytes: 0))
        XCTAssertEqual(partial.expectClosed(within: 10), .closed(extraBytes: 0))
        // A whole request in time is answered.
        XCTAssertEqual(try WebClient.get(host: host, port: port, "/ctl/", headers: [credentials]).status, 200)
    }
}
