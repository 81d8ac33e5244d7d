import DoozerClient
import DoozerSystem
import DoozerTLS
import DoozerWire
import Foundation
import XCTest

/// Certificates made for one test class by the `openssl` tool: a CA, a server certificate for
/// one loopback address, a client certificate from the same CA, and a second CA with a client
/// certificate of its own (what a stranger would present).
final class TestCertificates {
    let directory: URL
    let host: String

    /// The server certificate names `host` and `otherHosts` (a cluster's members).
    init(host: String, otherHosts: [String] = []) throws {
        self.host = host
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("doozer-tls-\(getpid())-\(host)")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try makeCA("ca")
        try makeCA("otherca")
        try issue("server", by: "ca", subject: "doozerd", altNames: ([host] + otherHosts).map { "IP:\($0)" }.joined(separator: ","))
        try issue("client", by: "ca", subject: "client one", altNames: nil)
        try issue("stranger", by: "otherca", subject: "stranger", altNames: nil)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    private func openssl(_ arguments: [String]) throws {
        let run = try runToExit("/usr/bin/openssl", arguments, stdin: nil, environment: [:], timeout: 20)
        guard run.status == 0 else {
            throw HarnessError("openssl \(arguments.joined(separator: " ")): \(String(decoding: run.stderr, as: UTF8.self))")
        }
    }

    private func makeCA(_ name: String) throws {
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-days", "2", "-subj", "/CN=\(name) for doozer tests",
                     "-keyout", path("\(name).key"), "-out", path("\(name).pem")])
    }

    /// A key and a certificate `name.pem` signed by CA `ca`, valid for `days` (negative: expired).
    func issue(_ name: String, by ca: String, subject: String, altNames: String?, days: Int = 2) throws {
        try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-subj", "/CN=\(subject)", "-keyout", path("\(name).key"), "-out", path("\(name).csr")])
        var arguments = ["x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).pem"), "-CAkey", path("\(ca).key"),
                         "-set_serial", "\(Int.random(in: 1..<1 << 40))", "-days", "\(days)", "-out", path("\(name).pem")]
        if let altNames {
            try "subjectAltName=\(altNames)\n".write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
            arguments += ["-extfile", path("\(name).ext")]
        }
        try openssl(arguments)
    }
}

/// TLS on the client port (`-tlscert`, `-tlskey`, `-tlsclientca`) against the release binary:
/// the library and the CLI over TLS, client certificates standing in for the secret, plaintext
/// and TLS on the wrong ports, handshakes that never finish, bad peers, reloading on SIGHUP.
final class TLSTests: DoozerdTestCase {
    override class var serverConfig: DoozerdProcess.Config? { nil }

    private var certificates: TestCertificates!
    private var host = ""
    /// A second address, for a member of a two-node cluster.
    private var otherHost = ""

    override func setUpWithError() throws {
        try super.setUpWithError()
        host = Loopback.freshHost()
        otherHost = Loopback.freshHost()
        certificates = try TestCertificates(host: host, otherHosts: [otherHost])
    }

    override func tearDown() {
        certificates = nil
        super.tearDown()
    }

    private var serverFiles: [String] {
        ["-tlscert", certificates.path("server.pem"), "-tlskey", certificates.path("server.key")]
    }

    /// A TLS doozerd on this test's address, once a TLS client gets an answer from it.
    private func startTLSServer(_ extra: [String] = [], environment: [String: String] = [:],
                                on address: String? = nil, port: UInt16? = nil) throws -> DoozerdProcess {
        var config = DoozerdProcess.Config(arguments: serverFiles + extra, environment: environment)
        config.host = address ?? host
        config.port = port
        config.skipReadiness = true
        let server = try startServer(config)
        let deadline = now() + 15
        var problem = "not tried"
        while now() < deadline {
            do {
                let client = try client(server, timeout: .seconds(2))
                defer { client.close() }
                if try client.rev() >= 57 { return server }
            } catch {
                problem = "\(error)"
            }
            guard server.isRunning else { break }
            pause(0.05)
        }
        throw HarnessError("TLS doozerd did not answer: \(problem); stderr:\n\(server.stderrTail())")
    }

    private func client(_ server: DoozerdProcess, ca: String = "ca", certificate: String? = nil, secret: String? = nil,
                        timeout: Duration = .seconds(5)) throws(DoozerError) -> DoozerClient {
        let options = TLSOptions(caFile: certificates.path("\(ca).pem"), certificate: certificate.map { certificates.path("\($0).pem") },
                                 key: certificate.map { certificates.path("\($0).key") })
        let uri = "doozer:?ca=\(server.address)" + (secret.map { "&sk=\($0)" } ?? "")
        return try DoozerClient(uri: uri, timeout: timeout, tls: options)
    }

    /// Waits (bounded) for `text` in the server's log.
    private func awaitLog(_ server: DoozerdProcess, _ text: String, _ item: String,
                          file: StaticString = #filePath, line: UInt = #line) {
        let deadline = now() + 10
        while now() < deadline {
            if server.stderrTail(20_000).contains(text) { return }
            pause(0.02)
        }
        XCTFail("\(item): no \"\(text)\" in the log:\n\(server.stderrTail())", file: file, line: line)
    }

    func testTheLibraryAndTheCLIWorkOverTLS() throws {
        let server = try startTLSServer()
        let client = try client(server)
        defer { client.close() }
        let rev = try client.set("/tls/a", rev: -1, body: Array("over tls".utf8))
        XCTAssertEqual(try client.get("/tls/a").body, Array("over tls".utf8))
        // The CLI: -tlsca, and the same through the environment.
        let uri = "doozer:?ca=\(server.address)"
        let got = try runDoozerCLI(["-a", uri, "-tlsca", certificates.path("ca.pem"), "get", "/tls/a"])
        XCTAssertEqual(got.status, 0, String(decoding: got.stderr, as: UTF8.self))
        XCTAssertEqual(String(decoding: got.stdout, as: UTF8.self), "over tls")
        let set = try runDoozerCLI(["-a", uri, "set", "/tls/b", "0"], stdin: Array("cli".utf8),
                                   environment: ["DOOZER_TLS_CA": certificates.path("ca.pem")])
        XCTAssertEqual(set.status, 0, String(decoding: set.stderr, as: UTF8.self))
        XCTAssertEqual(try client.get("/tls/b").body, Array("cli".utf8))
        XCTAssertGreaterThan(try client.rev(), rev)
    }

    /// Large bodies go out by reference (several TLS records, partial writes) and large
    /// requests arrive in many records; several threads share one TLS connection.
    func testLargeValuesAndManyCallsAtOnce() throws {
        let server = try startTLSServer()
        let client = try client(server)
        defer { client.close() }
        let body = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        _ = try client.set("/tls/large", rev: -1, body: body)
        let failures = ClientLocked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for round in 0..<10 {
                do {
                    if try client.get("/tls/large").body != body { failures.update { $0.append("worker \(worker) round \(round): wrong body") } }
                    _ = try client.set("/tls/w\(worker)", rev: -1, body: Array(body.prefix(20_000 + round)))
                } catch {
                    failures.update { $0.append("worker \(worker) round \(round): \(error)") }
                }
            }
        }
        XCTAssertEqual(failures.get(), [])
        XCTAssertEqual(try client.get("/tls/w3").body, Array(body.prefix(20_009)))
    }

    /// A member attaches to a TLS seed over TLS, is promoted, and large writes (which go
    /// between the nodes on peer streams, through the client ports) replicate.
    func testAClusterAttachesAndStreamsOverTLS() throws {
        let peers = ["-tlsca", certificates.path("ca.pem"), "-tlsclientca", certificates.path("ca.pem")]
        let seed = try startTLSServer(peers, port: 8046)
        let second = try startTLSServer(peers + ["-a", seed.address], on: otherHost, port: 8046)
        let atSeed = try client(seed)
        defer { atSeed.close() }
        let atSecond = try client(second)
        defer { atSecond.close() }
        let secondID = try atSecond.selfID()
        _ = try atSeed.set("/ctl/cal/1", rev: 0, body: [])
        let deadline = now() + 20
        while try atSeed.get("/ctl/cal/1").body != secondID {
            guard now() < deadline else { return XCTFail("the slave never took /ctl/cal/1:\n\(second.stderrTail())") }
            pause(0.05)
        }
        let large = (0..<400_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var rev: Int64 = 0
        while true {   // writable once it has written /ctl/node/<id>/writable
            do {
                rev = try atSecond.set("/tls/cluster", rev: -1, body: large)
                break
            } catch {
                guard now() < deadline else { return XCTFail("no write through the new member: \(error)") }
                pause(0.05)
            }
        }
        XCTAssertEqual(try atSeed.get("/tls/cluster", rev: rev).body, large)
        _ = try atSeed.set("/tls/cluster", rev: -1, body: Array(large.reversed()))
        let back = try atSecond.wait("/tls/cluster", rev: rev + 1, timeout: .seconds(10))
        XCTAssertEqual(back.body, Array(large.reversed()))
        // The large messages went on TLS streams: records arrived, and no stream failed its handshake.
        var records = 0
        for node in [second, seed] {
            XCTAssertEqual(node.stop().status, 0)
            let log = node.stderrTail(50_000)
            XCTAssertFalse(log.contains("TLS"), "a TLS failure:\n\(log)")
            let counts = log.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { field -> (Substring, Int)? in
                let parts = field.split(separator: "=")
                guard parts.count == 2, let value = Int(parts[1]) else { return nil }
                return (parts[0], value)
            }
            records += counts.filter { $0.0 == "records_received" }.map(\.1).reduce(0, +)
        }
        XCTAssertGreaterThan(records, 0, "no record came on a peer stream")
    }

    func testAVerifiedClientCertificateStandsInForTheSecret() throws {
        let server = try startTLSServer(["-tlsclientca", certificates.path("ca.pem")], environment: ["DOOZER_RWSECRET": "rw"])
        let anonymous = try client(server)
        defer { anonymous.close() }
        XCTAssertThrowsError(try anonymous.set("/tls/x", rev: -1, body: [1]), "no certificate, no secret: no write")
        let withSecret = try client(server, secret: "rw")
        defer { withSecret.close() }
        XCTAssertNoThrow(try withSecret.set("/tls/x", rev: -1, body: [2]), "the secret still works")
        // Fresh connections whose first request follows the handshake at once (often in the
        // same read as the client's Finished): the grant is in place before it is handled.
        for round in 0..<10 {
            let withCertificate = try client(server, certificate: "client")
            defer { withCertificate.close() }
            XCTAssertNoThrow(try withCertificate.set("/tls/x", rev: -1, body: [3]), "a verified certificate grants read-write (\(round))")
        }
        // A certificate from a CA the server does not trust ends the handshake (with TLS 1.3 the
        // client hears of it on its first read).
        XCTAssertThrowsError(try {
            let stranger = try client(server, certificate: "stranger", timeout: .seconds(2))
            defer { stranger.close() }
            _ = try stranger.rev()
        }(), "a certificate the server cannot verify")
        awaitLog(server, "TLS: certificate verify failed: unable to get local issuer certificate; closing it", "the server says why")
    }

    func testAServerCertificateFromAnotherCAIsRefused() throws {
        let server = try startTLSServer()
        XCTAssertThrowsError(try client(server, ca: "otherca", timeout: .seconds(3))) { error in
            XCTAssertTrue("\(error)".contains("certificate verify failed"), "\(error)")
        }
        let cli = try runDoozerCLI(["-a", "doozer:?ca=\(server.address)", "-tlsca", certificates.path("otherca.pem"), "rev"])
        XCTAssertEqual(cli.status, 2)
        XCTAssertTrue(String(decoding: cli.stderr, as: UTF8.self).contains("certificate verify failed"),
                      String(decoding: cli.stderr, as: UTF8.self))
    }

    func testPlaintextOnTheTLSPortGetsOneLogLineAndTheServerGoesOn() throws {
        let server = try startTLSServer()
        let plain = try TestConnection(host: server.host, port: server.port, timeout: 3)
        defer { plain.close() }
        XCTAssertThrowsError(try plain.call(Request(tag: 1, verb: .rev)), "no answer in plaintext")
        awaitLog(server, "TLS: wrong version number; closing it", "plaintext on the TLS port")
        let client = try client(server)
        defer { client.close() }
        XCTAssertGreaterThanOrEqual(try client.rev(), 57, "TLS clients are still served")
    }

    func testTLSOnAPlainPortFailsClearlyOnBothEnds() throws {
        var config = DoozerdProcess.Config()
        config.host = host
        let server = try startServer(config)
        XCTAssertThrowsError(try client(server, timeout: .seconds(3))) { error in
            XCTAssertTrue("\(error)".contains("tls handshake"), "\(error)")
        }
        awaitLog(server, "a TLS handshake on the plain client port", "TLS on the plain port")
    }

    func testAHandshakeThatNeverFinishesIsClosedAtItsDeadline() throws {
        let server = try startTLSServer(["-tlstimeout", "0.5"])
        let silent = try TestConnection(host: server.host, port: server.port, timeout: 10)
        defer { silent.close() }
        // Half a ClientHello record header, then nothing.
        try silent.sendRaw([0x16, 0x03, 0x01])
        XCTAssertThrowsError(try silent.receiveFrame(), "the server closes it")
        awaitLog(server, "TLS handshake not finished within -tlstimeout", "handshake deadline")
        let client = try client(server)
        defer { client.close() }
        XCTAssertGreaterThanOrEqual(try client.rev(), 57)
    }

    func testSIGHUPReloadsThePairAndABadPairKeepsTheOldOne() throws {
        let server = try startTLSServer()
        let open = try client(server)
        defer { open.close() }
        // A bad pair: the old one stays, and new connections still get it.
        let original = try Data(contentsOf: URL(fileURLWithPath: certificates.path("server.pem")))
        try Data("not a certificate".utf8).write(to: URL(fileURLWithPath: certificates.path("server.pem")))
        kill(server.pid, SIGHUP)
        awaitLog(server, "TLS: reload failed, keeping the previous pair", "a bad pair on SIGHUP")
        let during = try client(server)
        during.close()
        // A new pair from the same CA is taken for new connections; the open one goes on.
        try original.write(to: URL(fileURLWithPath: certificates.path("server.pem")))
        try certificates.issue("server", by: "ca", subject: "doozerd renewed", altNames: "IP:\(host)")
        kill(server.pid, SIGHUP)
        awaitLog(server, "TLS: reloaded", "a good pair on SIGHUP")
        let after = try client(server)
        defer { after.close() }
        XCTAssertNoThrow(try after.set("/tls/renewed", rev: -1, body: [1]))
        XCTAssertEqual(try open.get("/tls/renewed").body, [1], "the connection opened before the reload still works")
        XCTAssertTrue(server.isRunning)
    }

    /// With TLS on, the web view is HTTPS on the same pair.
    func testTheWebViewSpeaksHTTPSOnTheSamePair() throws {
        let web = "\(host):\(try Loopback.freePort(on: host))"
        _ = try startTLSServer(["-w", web])   // kept running by the test case until tearDown
        let request = Array("GET / HTTP/1.0\r\nHost: \(web)\r\n\r\n".utf8)
        let run = try runToExit("/usr/bin/openssl", ["s_client", "-connect", web, "-CAfile", certificates.path("ca.pem"),
                                                     "-verify_return_error", "-quiet"],
                                stdin: request, environment: [:], timeout: 10)
        let answer = String(decoding: run.stdout, as: UTF8.self)
        XCTAssertTrue(answer.hasPrefix("HTTP/1.1 200") || answer.hasPrefix("HTTP/1.0 200"), answer + String(decoding: run.stderr, as: UTF8.self))
        XCTAssertTrue(answer.lowercased().contains("<html"), answer)
        let plain = try TestConnection(host: host, port: UInt16(web.split(separator: ":").last!)!, timeout: 3)
        defer { plain.close() }
        try plain.sendRaw(Array("GET / HTTP/1.0\r\n\r\n".utf8))
        XCTAssertThrowsError(try plain.receiveFrame(), "plain HTTP gets no answer from the HTTPS port")
    }

    func testExpiredCertificatesAreRefusedOnBothEnds() throws {
        try certificates.issue("expired", by: "ca", subject: "doozerd", altNames: "IP:\(host)", days: -1)
        try certificates.issue("expiredclient", by: "ca", subject: "client", altNames: nil, days: -1)
        // A server presenting an expired certificate: the client refuses it.
        var config = DoozerdProcess.Config(arguments: ["-tlscert", certificates.path("expired.pem"), "-tlskey", certificates.path("expired.key")])
        config.host = host
        config.skipReadiness = true
        let expired = try startServer(config)
        awaitLog(expired, "serving cluster", "the node starts")
        XCTAssertThrowsError(try client(expired, timeout: .seconds(3))) { error in
            XCTAssertTrue("\(error)".contains("certificate has expired"), "\(error)")
        }
        // A client presenting an expired certificate to a server that verifies them: refused.
        let server = try startTLSServer(["-tlsclientca", certificates.path("ca.pem")], on: otherHost)
        XCTAssertThrowsError(try {
            let client = try client(server, certificate: "expiredclient", timeout: .seconds(2))
            defer { client.close() }
            _ = try client.rev()
        }(), "an expired client certificate")
        awaitLog(server, "TLS: certificate verify failed: certificate has expired; closing it", "the server says why")
    }

    /// Thousands of connections stuck mid-handshake at once, while clients on eight threads
    /// complete hundreds of full handshakes beside them: the loop serves every real client,
    /// and each stuck one is closed at its deadline.
    func testThousandsOfParallelHandshakesHoldNothingUp() throws {
        let server = try startTLSServer(["-tlstimeout", "2"])
        var stalled: [TestConnection] = []
        for _ in 0..<2000 {
            let connection = try TestConnection(host: server.host, port: server.port, timeout: 10)
            try connection.sendRaw([0x16, 0x03, 0x01, 0x02])   // a record header, cut short
            stalled.append(connection)
        }
        defer { for connection in stalled { connection.close() } }
        let failures = ClientLocked<[String]>([])
        let uri = "doozer:?ca=\(server.address)"
        let options = TLSOptions(caFile: certificates.path("ca.pem"))
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for round in 0..<40 {
                do {
                    let served = try DoozerClient(uri: uri, timeout: .seconds(5), tls: options)
                    defer { served.close() }
                    _ = try served.rev()
                } catch {
                    failures.update { $0.append("thread \(thread), handshake \(round): \(error)") }
                }
            }
        }
        XCTAssertEqual(failures.get(), [], "320 full handshakes served while 2,000 hang")
        let deadline = now() + 15   // all of them, so a broken sweep fails once instead of 2,000 times over
        for (index, connection) in stalled.enumerated() {
            XCTAssertTrue(connection.expectClosed(within: max(0.1, deadline - now())).isClosed, "stalled handshake \(index) closed at its deadline")
        }
        awaitLog(server, "TLS handshake not finished within -tlstimeout", "the deadline is logged")
        let after = try client(server)
        defer { after.close() }
        XCTAssertNoThrow(try after.set("/tls/after", rev: -1, body: [1]), "and the node goes on")
    }

    /// Thousands of requests written at once over TLS. The session reads ahead whole records
    /// the server does not take in one wake-up (its read and request budgets); the socket is
    /// empty by then, so its readiness never reports them, and the server must come back for
    /// them by itself. Every request is answered, in order.
    func testPipelinedRequestsHeldInsideTheSessionAreAllAnswered() throws {
        let server = try startTLSServer()
        let connection = try TestConnection(host: server.host, port: server.port, timeout: 10)
        defer { connection.close() }
        let session = try TLSSession(context: TLSContext.client(caFile: certificates.path("ca.pem")),
                                     fd: FileDescriptor(rawValue: connection.fd), host: server.host)
        handshake: while true {
            switch session.handshake() {
            case .done: break handshake
            case let other: return XCTFail("handshake: \(other)")
            }
        }
        let count = 3000
        var burst: [UInt8] = []
        for tag in 0..<count { burst += Framing.frame(Request(tag: Int32(tag), verb: .rev).encoded()) }
        var offset = 0
        while offset < burst.count {
            let outcome = burst.withUnsafeBytes { session.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            guard case .done(let n) = outcome else { return XCTFail("write: \(outcome)") }
            offset += n
        }
        var received: [UInt8] = []
        var tags: [Int32] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while tags.count < count {
            // The socket's receive timeout (10 s) turns a response that never comes into a failure.
            let outcome = buffer.withUnsafeMutableBytes { session.read(into: $0) }
            guard case .done(let n) = outcome else { return XCTFail("\(tags.count) of \(count) answered, then \(outcome)") }
            received += buffer[..<n]
            while received.count >= 4 {
                let length = Int(received[0]) << 24 | Int(received[1]) << 16 | Int(received[2]) << 8 | Int(received[3])
                guard received.count >= 4 + length else { break }
                tags.append(try Response(decoding: Array(received[4..<(4 + length)])).tag ?? -1)
                received.removeFirst(4 + length)
            }
        }
        XCTAssertEqual(tags, (0..<count).map { Int32($0) })
    }

    func testTLSFlagsAreCheckedBeforeAnythingStarts() throws {
        let onlyCertificate = try runDoozerd(["-l", "\(host):0", "-w", "false", "-tlscert", certificates.path("server.pem")])
        XCTAssertEqual(onlyCertificate.status, 2, onlyCertificate.summary)
        XCTAssertTrue(onlyCertificate.stderr.contains("need both cert file and key file"), onlyCertificate.summary)
        let mismatched = try runDoozerd(["-l", "\(host):0", "-w", "false", "-tlscert", certificates.path("server.pem"),
                                         "-tlskey", certificates.path("client.key")])
        XCTAssertNotEqual(mismatched.status, 0, mismatched.summary)
        XCTAssertTrue(mismatched.stderr.contains("server.pem"), mismatched.summary)
    }
}
