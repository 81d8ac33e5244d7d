// §12.10 Access control (secrets from DOOZER_RWSECRET / DOOZER_ROSECRET), items 83–89.
// These servers are started without `-w false`, so that item 88 can check the web view on its
// default port (<ip>:8000), which asks for the read secret.

import DoozerWire
import XCTest

private let denied = "permission denied"

extension DoozerdTestCase {
    /// 12.10 #88, changed: with secrets the web view still listens on <ip>:8000 (the default)
    /// but applies the client port's read rule (§2.8) to the secret a request presents — the
    /// HTTP Basic password or `?token=` — with the empty secret presented by default, and
    /// presented credentials only ever adding rights.
    /// `anonymousReads` is what the §2.8 matrix gives a fresh connection.
    func assertWebViewAccess(anonymousReads: Bool, secrets: [String], _ item: String) throws {
        let host = server.host
        func get(_ target: String, _ headers: [String] = []) throws -> HTTPReply {
            try WebClient.get(host: host, port: 8000, target, headers: headers)
        }
        // Assets are not secret.
        XCTAssertEqual(try get("/$main.js").status, 200, "\(item): /$main.js")
        for target in ["/", "/ctl/", "/$cluster.json"] {
            let anonymous = try get(target)
            if anonymousReads {
                XCTAssertEqual(anonymous.status, 200, "\(item): \(target) without a secret: \(anonymous)")
                // Credentials only add rights: a wrong one is answered like none at all.
                let wrongToken = try get(target + "?token=wrong")
                XCTAssertEqual(wrongToken.status, 200, "\(item): \(target) wrong token: \(wrongToken)")
                let wrongPassword = try get(target, [WebClient.basicAuthorization("wrong")])
                XCTAssertEqual(wrongPassword.status, 200, "\(item): \(target) wrong password: \(wrongPassword)")
            } else {
                XCTAssertEqual(anonymous.status, 401, "\(item): \(target) without a secret: \(anonymous)")
                XCTAssertEqual(anonymous.headers["www-authenticate"]?.hasPrefix("Basic realm=\"doozer\""), true, "\(item): \(anonymous)")
                XCTAssertFalse(anonymous.text.contains("local"), "\(item): nothing of the tree without the secret")
                XCTAssertEqual(try get(target, [WebClient.basicAuthorization("wrong")]).status, 401, "\(item): \(target) wrong password")
                XCTAssertEqual(try get(target + "?token=wrong").status, 401, "\(item): \(target) wrong token")
            }
            for secret in secrets {
                let basic = try get(target, [WebClient.basicAuthorization(secret)])
                XCTAssertEqual(basic.status, 200, "\(item): \(target) with the password \(secret): \(basic)")
                let token = try get(target + "?token=" + secret)
                XCTAssertEqual(token.status, 200, "\(item): \(target) with the token \(secret): \(token)")
            }
        }
        // The event stream is guarded the same way.
        if !anonymousReads {
            XCTAssertEqual(try get("/$events/ctl/").status, 401, "\(item): event stream without a secret")
        }
        if let secret = secrets.first {
            let stream = try EventStream(host: host, port: 8000, target: "/$events/ctl/",
                                         headers: [WebClient.basicAuthorization(secret)])
            defer { stream.close() }
            try stream.read(until: { $0.messages.contains { $0["Path"] as? String == "/name" } }, timeout: 5,
                            what: "\(item): the listing with the secret")
        }
    }
}

final class AccessBothSecretsTests: DoozerdTestCase {
    override class var serverConfig: DoozerdProcess.Config? {
        .init(environment: ["DOOZER_RWSECRET": "rw", "DOOZER_ROSECRET": "ro"], webEnabled: true)
    }

    /// Every verb that needs rights, with all its arguments.
    private func guardedRequests(_ path: String) -> [(String, Request)] {
        [
            ("GET", Request(verb: .get, path: "/ctl/name")),
            ("STAT", Request(verb: .stat, path: "/ctl/name")),
            ("WAIT", Request(verb: .wait, path: "/**", rev: 1)),
            ("WALK", Request(verb: .walk, path: "/**", offset: 0)),
            ("GETDIR", Request(verb: .getdir, path: "/ctl", offset: 0)),
            ("SET", Request(verb: .set, path: path, value: bytes("x"), rev: -1)),
            ("DEL", Request(verb: .del, path: path, rev: -1)),
            ("NOP", Request(verb: .nop)),
        ]
    }

    // 12.10 #83 and #52
    func testEverythingDeniedBeforeAccess() throws {
        let c = try connect()
        let path = "/" + unique("acl")
        var tag: Int32 = 830
        for (name, request) in guardedRequests(path) {
            var request = request
            tag += 1
            request.tag = tag
            assertExactly(try c.call(request), Response(tag: tag, errCode: .other, errDetail: denied), "12.10 #83 \(name)")
        }
        let rev = try c.call(Request(tag: 1, verb: .rev))
        XCTAssertGreaterThanOrEqual(rev.rev ?? 0, 57, "12.10 #83/12.5 #52 REV works: \(rev.brief)")
        XCTAssertNil(rev.errCode, "12.10 #83 REV")
        let selfResponse = try c.call(Request(tag: 2, verb: .self))
        assertExactly(selfResponse, Response(tag: 2, value: bytes(nodeID)), "12.10 #83/12.5 #52 SELF works")
        XCTAssertEqual(nodeID.count, 16, "12.5 #52")
        // Unknown verbs need no rights either (§2.8).
        assertExactly(try c.call(Request(tag: 3, verb: 4)), Response(tag: 3, errCode: .unknownVerb), "§2.8 unknown verb")
    }

    // 12.10 #84
    func testAccessLevels() throws {
        let c = try connect()
        let path = "/" + unique("acl")
        assertExactly(try c.call(Request(tag: 1, verb: .access, value: bytes("wrong"))),
                      Response(tag: 1, errCode: .other, errDetail: denied), "12.10 #84 ACCESS wrong")
        assertError(try c.get("/ctl/name"), .other, detail: denied, "12.10 #84: still no read after a wrong secret")
        assertExactly(try c.call(Request(tag: 2, verb: .access, value: bytes("ro"))), Response(tag: 2), "12.10 #84 ACCESS ro")
        XCTAssertEqual(try c.get("/ctl/name").text, "local", "12.10 #84: GET works with ro")
        XCTAssertEqual(try c.stat("/ctl").rev, -2, "12.10 #84: STAT works with ro")
        XCTAssertEqual(try c.wait("/**", rev: 1).rev, 1, "12.10 #84: WAIT works with ro")
        XCTAssertEqual(try c.walk("/ctl/name", offset: 0).path, "/ctl/name", "12.10 #84: WALK works with ro")
        XCTAssertEqual(try c.getdir("/ctl", offset: 0).path, "cal", "12.10 #84: GETDIR works with ro")
        assertExactly(try c.call(Request(tag: 3, verb: .set, path: path, value: bytes("x"), rev: -1)),
                      Response(tag: 3, errCode: .other, errDetail: denied), "12.10 #84: SET denied with ro")
        assertError(try c.del(path, rev: -1), .other, detail: denied, "12.10 #84: DEL denied with ro")
        assertError(try c.nop(), .other, detail: denied, "12.10 #84: NOP denied with ro")
        assertExactly(try c.call(Request(tag: 4, verb: .access, value: bytes("rw"))), Response(tag: 4), "12.10 #84 ACCESS rw")
        let rev = try XCTUnwrap(try c.set(path, "x", rev: -1).rev, "12.10 #84: SET works with rw")
        XCTAssertEqual(try c.get(path).rev, rev, "12.10 #84")
        assertOK(try c.nop(), "12.10 #84: NOP works with rw")
        assertOK(try c.del(path, rev: rev), "12.10 #84: DEL works with rw")
    }

    // 12.10 #84, §2.4 (b): an ACCESS takes effect for every request read after it, even pipelined.
    func testPipelinedAccessAppliesToLaterRequests() throws {
        let c = try connect()
        let path = "/" + unique("pipe")
        var batch = Framing.frame(Request(tag: 1, verb: .access, value: bytes("rw")).encoded())
        batch += Framing.frame(Request(tag: 2, verb: .set, path: path, value: bytes("x"), rev: -1).encoded())
        batch += Framing.frame(Request(tag: 3, verb: .get, path: "/ctl/name").encoded())
        try c.sendRaw(batch)
        assertExactly(try c.receive(tag: 1), Response(tag: 1), "§2.4(b) ACCESS")
        let set = try c.receive(tag: 2)
        assertOK(set, "§2.4(b): SET right after a pipelined ACCESS rw")
        XCTAssertNotNil(set.rev, "§2.4(b)")
        XCTAssertEqual(try c.receive(tag: 3).text, "local", "§2.4(b)")
    }

    // 12.10 #85
    func testGrantsAreAdditive() throws {
        let c = try connect()
        let path = "/" + unique("add")
        assertOK(try c.access("rw"), "12.10 #85 ACCESS rw")
        assertOK(try c.access("ro"), "12.10 #85 ACCESS ro after rw")
        assertOK(try c.set(path, "1", rev: -1), "12.10 #85: SET still works after ACCESS ro")
        assertError(try c.access("nope"), .other, detail: denied, "12.10 #85 failed ACCESS")
        assertOK(try c.set(path, "2", rev: -1), "12.10 #85: SET still works after a failed ACCESS")
        assertError(try c.access(""), .other, detail: denied, "§2.8: empty secret fails when both are set")
        assertError(try c.access(nil), .other, detail: denied, "§2.8: absent secret = empty")
        XCTAssertEqual(try c.get(path).text, "2", "12.10 #85")
        // Rights are per connection.
        let other = try connect()
        assertError(try other.get(path), .other, detail: denied, "§2.8: a new connection starts with no rights")
    }

    // 12.10 #88 (changed): the web view asks for a secret
    func testWebViewNeedsTheReadSecret() throws {
        try assertWebViewAccess(anonymousReads: false, secrets: ["ro", "rw"], "12.10 #88 (both secrets)")
    }

    // 12.10 #89
    func testPermissionCheckPrecedesMissingArg() throws {
        let c = try connect()
        let cases: [(String, Request)] = [
            ("GET without path", Request(tag: 1, verb: .get)),
            ("SET without rev", Request(tag: 2, verb: .set, path: "/x")),
            ("SET bad path", Request(tag: 3, verb: .set, path: "bad path", rev: -1)),
            ("WAIT without rev", Request(tag: 4, verb: .wait, path: "/**")),
            ("WALK without offset", Request(tag: 5, verb: .walk, path: "/**")),
            ("GETDIR without anything", Request(tag: 6, verb: .getdir)),
            ("DEL without rev", Request(tag: 7, verb: .del, path: "/x")),
            ("WAIT bad glob", Request(tag: 8, verb: .wait, path: "bad", rev: 1)),
            ("GET bad path", Request(tag: 9, verb: .get, path: "")),
        ]
        for (name, request) in cases {
            assertExactly(try c.call(request), Response(tag: request.tag, errCode: .other, errDetail: denied), "12.10 #89 \(name)")
        }
        assertOK(try c.access("ro"), "12.10 #89")
        assertError(try c.get(nil), .missingArg, "12.10 #89: with read rights, MISSING_ARG")
        assertError(try c.set("/x", "v", rev: nil), .other, detail: denied, "12.10 #89: write check still first")
    }
}

final class AccessRWOnlyTests: DoozerdTestCase {
    override class var serverConfig: DoozerdProcess.Config? {
        .init(environment: ["DOOZER_RWSECRET": "rw"], webEnabled: true)
    }

    // 12.10 #86
    func testReadOnlyByDefault() throws {
        let c = try connect()
        let path = "/" + unique("rw")
        XCTAssertEqual(try c.get("/ctl/name").text, "local", "12.10 #86: fresh connection can GET")
        XCTAssertEqual(try c.wait("/**", rev: 1).rev, 1, "12.10 #86: and WAIT")
        assertExactly(try c.call(Request(tag: 1, verb: .set, path: path, value: bytes("x"), rev: -1)),
                      Response(tag: 1, errCode: .other, errDetail: denied), "12.10 #86: SET denied")
        assertError(try c.nop(), .other, detail: denied, "12.10 #86: NOP denied")
        assertError(try c.del(path, rev: -1), .other, detail: denied, "12.10 #86: DEL denied")
        assertExactly(try c.call(Request(tag: 2, verb: .access, value: [])), Response(tag: 2), "12.10 #86: ACCESS \"\" succeeds")
        assertError(try c.set(path, "x", rev: -1), .other, detail: denied, "12.10 #86: empty secret grants no write")
        assertError(try c.access("ro"), .other, detail: denied, "12.10 #86: unknown secret fails")
        assertExactly(try c.call(Request(tag: 3, verb: .access, value: bytes("rw"))), Response(tag: 3), "12.10 #86: ACCESS rw")
        assertOK(try c.set(path, "x", rev: -1), "12.10 #86: SET works after ACCESS rw")
    }

    // 12.10 #88 (changed): anonymous reads are allowed here (§2.8), so the web view is open too
    func testWebViewFollowsTheReadRule() throws {
        try assertWebViewAccess(anonymousReads: true, secrets: ["rw"], "12.10 #88 (rw secret only)")
    }
}

final class AccessROOnlyTests: DoozerdTestCase {
    override class var serverConfig: DoozerdProcess.Config? {
        .init(environment: ["DOOZER_ROSECRET": "ro"], webEnabled: true)
    }

    // 12.10 #87
    func testWritableByDefault() throws {
        let c = try connect()
        let path = "/" + unique("ro")
        assertOK(try c.set(path, "x", rev: -1), "12.10 #87: fresh connection can SET")
        XCTAssertEqual(try c.get(path).text, "x", "12.10 #87: and GET")
        assertExactly(try c.call(Request(tag: 1, verb: .access, value: bytes("ro"))), Response(tag: 1), "12.10 #87: ACCESS ro")
        assertOK(try c.set(path, "y", rev: -1), "12.10 #87: ACCESS ro removes nothing")
        assertExactly(try c.call(Request(tag: 2, verb: .access, value: bytes("rw"))),
                      Response(tag: 2, errCode: .other, errDetail: denied), "12.10 #87: ACCESS rw fails")
        assertOK(try c.access(""), "§2.8: the empty secret matches the empty RW secret")
        assertOK(try c.nop(), "12.10 #87: NOP works")
    }

    // 12.10 #88 (changed): anonymous reads are allowed here (§2.8), so the web view is open too
    func testWebViewFollowsTheReadRule() throws {
        try assertWebViewAccess(anonymousReads: true, secrets: ["ro"], "12.10 #88 (ro secret only)")
    }
}
