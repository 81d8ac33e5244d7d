// DoozerClient against real doozerd processes: every operation and its error mapping,
// multiplexing, wait timeouts, the tree walk, DzNS lookup, secrets, reconnection and watches.

@testable import DoozerClient
import DoozerWire
import Foundation
import XCTest

final class ClientOperationTests: DoozerdTestCase {
    private func dial() throws -> DoozerConnection {
        let connection = try DoozerConnection.dial(server.address, timeout: .seconds(5))
        addTeardownBlock { connection.close() }
        return connection
    }

    func testEveryOperation() throws {
        let c = try dial()
        let dir = "/" + unique("ops")
        let file = dir + "/f"
        XCTAssertEqual(c.address, server.address)
        let created = try c.set(file, rev: 0, body: bytes("hello"))
        XCTAssertGreaterThan(created, 57)
        let got = try c.get(file)
        XCTAssertEqual(got.body, bytes("hello"))
        XCTAssertEqual(got.rev, created)
        let before = try c.get(file, rev: created - 1)
        XCTAssertEqual(before.body, [])
        XCTAssertEqual(before.rev, 0, "missing at an older rev: rev 0")
        let stat = try c.stat(file)
        XCTAssertEqual(stat.len, 5)
        XCTAssertEqual(stat.rev, created)
        XCTAssertEqual(try c.stat(dir).rev, -2)
        XCTAssertEqual(try c.stat(dir).len, 1)
        XCTAssertEqual(try c.stat(dir + "/missing").rev, 0)
        let updated = try c.set(file, rev: created, body: bytes("world!"))
        XCTAssertGreaterThan(updated, created)
        let second = try c.set(dir + "/g", rev: -1, body: [])

        let info = try c.statinfo(file, rev: updated)
        XCTAssertEqual(info, FileInfo(name: "f", len: 6, rev: updated, isDir: false, isSet: true))
        let dirInfo = try c.statinfo(dir, rev: second)
        XCTAssertEqual(dirInfo, FileInfo(name: String(dir.dropFirst()), len: 2, rev: -2, isDir: true, isSet: true))
        XCTAssertEqual(try c.statinfo("/", rev: second).name, "")

        XCTAssertEqual(try c.getdir(dir, rev: second), ["f", "g"])
        XCTAssertEqual(try c.getdir(dir, rev: second, offset: 1), ["g"])
        XCTAssertEqual(try c.getdir(dir, rev: second, offset: 0, limit: 1), ["f"])
        XCTAssertEqual(try c.getdir(dir, rev: second, offset: 5), [], "RANGE ends the listing silently")
        XCTAssertEqual(try c.getdir(dir, rev: updated), ["f"], "listing at an older rev")
        XCTAssertEqual(try c.getdirinfo(dir, rev: second), [
            FileInfo(name: "f", len: 6, rev: updated, isDir: false, isSet: true),
            FileInfo(name: "g", len: 0, rev: second, isDir: false, isSet: true),
        ])

        let walked = try c.walk(dir + "/*", rev: second)
        XCTAssertEqual(walked, [
            DoozerEvent(rev: updated, path: file, body: bytes("world!"), flags: 4),
            DoozerEvent(rev: second, path: dir + "/g", body: [], flags: 4),
        ])
        XCTAssertEqual(try c.walk(dir + "/*", rev: second, offset: 1, limit: 5).map(\.path), [dir + "/g"])
        XCTAssertEqual(try c.walk(dir + "/*", rev: second, offset: 0, limit: 1).map(\.path), [file])

        let event = try c.wait(dir + "/**", rev: created)
        XCTAssertEqual(event, DoozerEvent(rev: created, path: file, body: bytes("hello"), flags: 4))
        XCTAssertTrue(event.isSet)
        XCTAssertFalse(event.isDel)

        try c.del(file, rev: updated)
        let current = try c.rev()
        let deletion = try c.wait(file, rev: second + 1)
        XCTAssertEqual(deletion.rev, current)
        XCTAssertTrue(deletion.isDel)
        XCTAssertEqual(deletion.body, [])
        XCTAssertEqual(try c.get(file).rev, 0)

        try c.nop()
        let nopRev = try c.rev()
        let nop = try c.wait("/", rev: nopRev)
        XCTAssertEqual(nop.flags, 0)
        XCTAssertFalse(nop.isSet || nop.isDel)

        XCTAssertEqual(String(decoding: try c.selfID(), as: UTF8.self), nodeID)
        try c.access([])  // both secrets empty: the empty secret matches
        XCTAssertNil(c.failure)
    }

    func testServerErrorsAreMapped() throws {
        let c = try dial()
        let dir = "/" + unique("err")
        let file = dir + "/f"
        let rev = try c.set(file, rev: 0, body: bytes("x"))

        assertClientError(.server(code: .revMismatch, detail: nil), "SET rev 0 on an existing file") {
            try c.set(file, rev: 0, body: [])
        }
        assertClientError(.server(code: .revMismatch, detail: nil), "DEL at an older rev") { try c.del(file, rev: rev - 1) }
        assertClientError(.server(code: .isDir, detail: nil), "GET of a directory") { try c.get(dir) }
        assertClientError(.server(code: .isDir, detail: nil), "SET of a directory") { try c.set(dir, rev: -1, body: []) }
        assertClientError(.server(code: .notDir, detail: nil), "SET below a file") { try c.set(file + "/x", rev: -1, body: []) }
        assertClientError(.server(code: .noEnt, detail: nil), "GETDIR of a missing path") { try c.getdir(dir + "/nope", rev: rev) }
        assertClientError(.server(code: .noEnt, detail: nil), "statinfo of a missing path") { try c.statinfo(dir + "/nope", rev: rev) }
        assertClientError(.server(code: .notDir, detail: nil), "GETDIR of a file") { try c.getdir(file, rev: rev) }
        assertClientError(.server(code: .badPath, detail: nil), "GET of an invalid path") { try c.get("nope") }
        assertClientError(.server(code: .other, detail: "invalid glob pattern: /bad/"), "WALK with a bad glob") {
            try c.walk("/bad/", rev: rev)
        }
        assertClientError(.server(code: .other, detail: "permission denied"), "ACCESS with a wrong secret") {
            try c.access(bytes("wrong"))
        }
        do {
            _ = try c.set(file, rev: 0, body: [])
        } catch {
            XCTAssertEqual(error.description, "REV_MISMATCH")
            XCTAssertEqual(error.code, .revMismatch)
        }
        do {
            try c.access(bytes("wrong"))
        } catch {
            XCTAssertEqual(error.description, "OTHER: permission denied")
        }
        XCTAssertNil(c.failure, "error answers leave the connection usable")
        XCTAssertEqual(try c.get(file).body, bytes("x"))
    }

    func testHundredConcurrentCallsOnOneConnection() throws {
        let c = try dial()
        let dir = "/" + unique("many")
        let failures = ClientLocked<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 100) { i in
            let path = "\(dir)/f\(i)"
            do {
                let rev = try c.set(path, rev: 0, body: bytes("v\(i)"))
                let (body, fileRev) = try c.get(path)
                if body != bytes("v\(i)") || fileRev != rev {
                    failures.update { $0.append("\(path): got \(String(decoding: body, as: UTF8.self))@\(fileRev), wrote @\(rev)") }
                }
                if i % 10 == 0 { _ = try c.rev() }
            } catch {
                failures.update { $0.append("\(path): \(error)") }
            }
        }
        XCTAssertEqual(failures.get(), [])
        XCTAssertEqual(try c.getdir(dir, rev: try c.rev()).count, 100)
    }

    func testWaitTimeoutLeavesTheConnectionUsable() throws {
        let c = try dial()
        let path = "/" + unique("late")
        let start = try c.rev() + 1
        let began = now()
        assertClientError(.waitTimeout, "WAIT with nothing to report") {
            try c.wait(path, rev: start, timeout: .milliseconds(200))
        }
        XCTAssertLessThan(now() - began, 3)
        XCTAssertNil(c.failure)
        XCTAssertGreaterThanOrEqual(try c.rev(), start - 1)
        // The abandoned WAIT now fires on the server; its answer must be dropped, not misrouted.
        let written = try c.set(path, rev: -1, body: bytes("late"))
        for _ in 0..<20 { XCTAssertGreaterThanOrEqual(try c.rev(), written) }
        let event = try c.wait(path, rev: start, timeout: .seconds(5))
        XCTAssertEqual(event.rev, written)
        XCTAssertEqual(event.body, bytes("late"))
        XCTAssertEqual(try c.get(path).body, bytes("late"))
    }

    func testCloseFailsOutstandingAndLaterCalls() throws {
        let c = try dial()
        let waiting = ClientLocked<DoozerError?>(nil)
        let done = DispatchSemaphore(value: 0)
        let glob = "/" + unique("never")
        let start = try c.rev() + 1
        Thread {
            do throws(DoozerError) { _ = try c.wait(glob, rev: start) } catch { waiting.update { $0 = error } }
            done.signal()
        }.start()
        try awaitOutstandingCall(on: c)
        c.close()
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        XCTAssertEqual(waiting.get(), .closed)
        assertClientError(.closed, "call after close") { try c.rev() }
        XCTAssertEqual(DoozerError.closed.description, "closed")
    }

    func testDialErrorsReadLikeTheOriginal() {
        assertClientError(.connection("dial tcp 127.0.0.1:1: connect: connection refused"), "refused") {
            try DoozerConnection.dial("127.0.0.1:1")
        }
        assertClientError(.connection("dial tcp: address 127.0.0.1: missing port in address"), "no port") {
            try DoozerConnection.dial("127.0.0.1")
        }
        assertClientError(.connection("dial tcp 127.0.0.1:1: connect: connection refused"), "client, one ca") {
            try DoozerClient(uri: "doozer:?ca=127.0.0.1:1")
        }
        assertClientError(.invalidURI, "client, bad uri") { try DoozerClient(uri: "doozer?:ca=127.0.0.1:1") }
        assertClientError(.invalidURI, "cn without a boot uri") { try DoozerClient(uri: "doozer:?cn=x") }
    }

    func testClientRunsEveryOperation() throws {
        let client = try DoozerClient(uri: "doozer:?ca=\(server.address)", timeout: .seconds(5))
        defer { client.close() }
        XCTAssertEqual(client.currentAddress, server.address)
        let dir = "/" + unique("cli")
        let rev = try client.set(dir + "/a", rev: 0, body: bytes("1"))
        XCTAssertEqual(try client.get(dir + "/a").rev, rev)
        XCTAssertEqual(try client.stat(dir + "/a").len, 1)
        XCTAssertEqual(try client.statinfo(dir, rev: rev).isDir, true)
        XCTAssertEqual(try client.getdir(dir, rev: rev), ["a"])
        XCTAssertEqual(try client.getdirinfo(dir, rev: rev).map(\.name), ["a"])
        XCTAssertEqual(try client.walk(dir + "/**", rev: rev).map(\.path), [dir + "/a"])
        XCTAssertEqual(try client.wait(dir + "/**", rev: rev).rev, rev)
        assertClientError(.waitTimeout, "client wait timeout") { try client.wait(dir + "/**", rev: rev + 1000, timeout: .milliseconds(100)) }
        try client.del(dir + "/a", rev: -1)
        try client.nop()
        XCTAssertEqual(String(decoding: try client.selfID(), as: UTF8.self), nodeID)
        try client.access([])
        XCTAssertGreaterThan(try client.rev(), rev)
        client.close()
        assertClientError(.closed, "after close") { try client.rev() }
    }
}

final class ClientTreeWalkTests: DoozerdTestCase {
    override class var serverConfig: DoozerdProcess.Config? { nil }

    /// §8.4 `find /` on a fresh single node, through walkTree.
    func testWalkTreeListsAFreshNodeLikeFind() throws {
        let fresh = try startServer(DoozerdProcess.Config())
        let client = try DoozerClient(uri: "doozer:?ca=\(fresh.address)")
        defer { client.close() }
        let rev = try client.rev()
        var visited: [String] = []
        var infos: [String: FileInfo] = [:]
        var errors: [String] = []
        client.walkTree("/", rev: rev, visit: { path, info in
            visited.append(path)
            infos[path] = info
            return true
        }, onError: { path, error in errors.append("\(path): \(error)") })
        let id = fresh.nodeID
        XCTAssertEqual(visited, [
            "/", "/ctl", "/ctl/cal", "/ctl/cal/0", "/ctl/name", "/ctl/node", "/ctl/node/\(id)",
            "/ctl/node/\(id)/addr", "/ctl/node/\(id)/applied", "/ctl/node/\(id)/hostname",
            "/ctl/node/\(id)/version", "/ctl/node/\(id)/writable", "/ctl/ns", "/ctl/ns/local",
            "/ctl/ns/local/\(id)",
        ])
        XCTAssertEqual(errors, [])
        XCTAssertEqual(infos["/ctl"]?.isDir, true)
        XCTAssertEqual(infos["/ctl/name"]?.isDir, false)
        XCTAssertEqual(infos["/ctl/name"]?.len, 5)
        XCTAssertEqual(infos["/ctl/name"]?.name, "name")

        // Skipping a directory skips its subtree; a file root is visited alone.
        var pruned: [String] = []
        client.walkTree("/", rev: rev, visit: { path, _ in pruned.append(path); return path != "/ctl/node" },
                        onError: { _, _ in })
        XCTAssertFalse(pruned.contains("/ctl/node/\(id)"))
        XCTAssertTrue(pruned.contains("/ctl/node"))
        XCTAssertTrue(pruned.contains("/ctl/ns/local/\(id)"))
        var single: [String] = []
        client.walkTree("/ctl/name", rev: rev, visit: { path, _ in single.append(path); return true }, onError: { _, _ in })
        XCTAssertEqual(single, ["/ctl/name"])
        var missing: [String] = []
        client.walkTree("/nope", rev: rev, visit: { _, _ in XCTFail("visited"); return true },
                        onError: { path, error in missing.append("\(path) \(error)") })
        XCTAssertEqual(missing, ["/nope NOENT"])
    }
}

final class ClientSecretTests: DoozerdTestCase {
    override class var serverConfig: DoozerdProcess.Config? {
        .init(environment: ["DOOZER_RWSECRET": "rw", "DOOZER_ROSECRET": "ro"])
    }

    func testSecretsAndPermissionErrors() throws {
        let anonymous = try DoozerClient(uri: "doozer:?ca=\(server.address)")
        defer { anonymous.close() }
        assertClientError(.server(code: .other, detail: "permission denied"), "read without a secret") {
            try anonymous.get("/ctl/name")
        }
        XCTAssertGreaterThan(try anonymous.rev(), 0, "REV needs no rights")

        let reader = try DoozerClient(uri: "doozer:?ca=\(server.address)&sk=ro")
        defer { reader.close() }
        XCTAssertEqual(try reader.get("/ctl/name").body, bytes("local"))
        assertClientError(.server(code: .other, detail: "permission denied"), "write with the RO secret") {
            try reader.set("/x", rev: -1, body: [])
        }

        let writer = try DoozerClient(uri: "doozer:?sk=rw&ca=\(server.address)")
        defer { writer.close() }
        let path = "/" + unique("sec")
        XCTAssertGreaterThan(try writer.set(path, rev: 0, body: bytes("s")), 0)
        XCTAssertEqual(try writer.get(path).body, bytes("s"))

        assertClientError(.server(code: .other, detail: "permission denied"), "a wrong sk fails the dial") {
            try DoozerClient(uri: "doozer:?ca=\(server.address)&sk=wrong")
        }
        // Percent-decoded secret.
        let encoded = try DoozerClient(uri: "doozer:?ca=\(server.address)&sk=%72w")
        defer { encoded.close() }
        try encoded.nop()
    }
}

final class ClientClusterTests: DoozerdTestCase {
    override class var serverConfig: DoozerdProcess.Config? { nil }

    /// §9.2, B20: `cn` looked up through the DzNS of the boot URI.
    func testNameLookupThroughTheBootURI() throws {
        let name = unique("dzns")
        let dzns = try startServer(DoozerdProcess.Config(arguments: ["-c", name]))
        let boot = "doozer:?ca=\(dzns.address)"
        let client = try DoozerClient(uri: "doozer:?cn=\(name)", bootURI: boot, timeout: .seconds(5))
        defer { client.close() }
        XCTAssertEqual(client.knownAddresses, [dzns.address])
        XCTAssertEqual(client.currentAddress, dzns.address)
        XCTAssertEqual(String(decoding: try client.selfID(), as: UTF8.self), dzns.nodeID)
        // `ca` is ignored when cn is looked up; an empty boot URI means none (ca is used).
        let ignored = try DoozerClient(uri: "doozer:?cn=\(name)&ca=127.0.0.1:1", bootURI: boot)
        ignored.close()
        let direct = try DoozerClient(uri: "doozer:?cn=\(name)&ca=\(dzns.address)", bootURI: "")
        direct.close()

        assertClientError(.noKnownAddress, "unknown cluster name") {
            try DoozerClient(uri: "doozer:?cn=unknown", bootURI: boot)
        }
        XCTAssertEqual(DoozerError.noKnownAddress.description, "no known address")
        assertClientError(.connection("dial tcp 127.0.0.1:1: connect: connection refused"), "boot URI down") {
            try DoozerClient(uri: "doozer:?cn=\(name)", bootURI: "doozer:?ca=127.0.0.1:1")
        }
    }

    /// B21: a `ca` without a port dials 8046.
    func testDefaultPort() throws {
        let host = Loopback.freshHost()
        if Loopback.isListening(host: host, port: 8046) { throw XCTSkip("something listens on \(host):8046") }
        let (_, id) = try startClientServer(host: host, port: 8046)
        let client = try DoozerClient(uri: "doozer:?ca=\(host)")
        defer { client.close() }
        XCTAssertEqual(client.currentAddress, "\(host):8046")
        XCTAssertEqual(String(decoding: try client.selfID(), as: UTF8.self), id)
    }

    /// A stopped first `ca` does not matter: the client dials the other one.
    func testStoppedAddressIsSkipped() throws {
        let down = try startServer(DoozerdProcess.Config())
        let up = try startServer(DoozerdProcess.Config())
        down.stop()
        for _ in 0..<6 {  // the first address tried is random
            let client = try DoozerClient(uri: "doozer:?ca=\(down.address)&ca=\(up.address)", timeout: .seconds(5))
            XCTAssertEqual(client.currentAddress, up.address)
            XCTAssertEqual(String(decoding: try client.selfID(), as: UTF8.self), up.nodeID)
            client.close()
        }
    }

    /// The live server goes away: reads, conditional and not-yet-sent writes go to the other one.
    func testReconnectsToTheOtherAddress() throws {
        let a = try startServer(DoozerdProcess.Config())
        let b = try startServer(DoozerdProcess.Config())
        let client = try DoozerClient(uri: "doozer:?ca=\(a.address)&ca=\(b.address)", timeout: .seconds(5))
        defer { client.close() }
        let first = try XCTUnwrap(client.currentAddress)
        let (victim, survivor) = first == a.address ? (a, b) : (b, a)
        victim.stop()
        XCTAssertEqual(String(decoding: try client.selfID(), as: UTF8.self), survivor.nodeID)
        XCTAssertEqual(client.currentAddress, survivor.address)
        let path = "/" + unique("moved")
        let rev = try client.set(path, rev: 0, body: bytes("c"))
        XCTAssertEqual(try client.get(path, rev: rev).body, bytes("c"))
        // The connection broke between calls: an unconditional write was never sent, so it is sent now.
        survivor.stop()
        let restarted = try startClientServer(host: survivor.host, port: survivor.port)
        XCTAssertGreaterThan(try client.set(path, rev: -1, body: bytes("d")), 0)
        XCTAssertEqual(String(decoding: try client.selfID(), as: UTF8.self), restarted.id)
    }

    /// A dead connection: the outstanding WAIT fails, later calls fail at once with the same error.
    func testConnectionFailureFailsEveryCall() throws {
        let s = try startServer(DoozerdProcess.Config())
        let c = try DoozerConnection.dial(s.address)
        defer { c.close() }
        let outcome = ClientLocked<DoozerError?>(nil)
        let done = DispatchSemaphore(value: 0)
        let start = try c.rev() + 1000
        Thread {
            do throws(DoozerError) { _ = try c.wait("/**", rev: start) } catch { outcome.update { $0 = error } }
            done.signal()
        }.start()
        try awaitOutstandingCall(on: c)
        s.stop()
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        let failure = try XCTUnwrap(outcome.get())
        XCTAssertEqual(failure, .connection("EOF"))
        XCTAssertEqual(c.failure, failure)
        assertClientError(failure, "later call") { try c.rev() }
    }

    /// A watch across a restart of its (only) server on the same address: every event written
    /// before and after the restart arrives once. The restarted server is a new store (revs
    /// start again at 1): the watch notices and follows the new store from its rev 1.
    func testWatchSurvivesAServerRestart() throws {
        let first = try startServer(DoozerdProcess.Config())
        let client = try DoozerClient(uri: "doozer:?ca=\(first.address)")
        defer { client.close() }
        let events = ClientLocked<[DoozerEvent]>([])
        let failure = ClientLocked<DoozerError?>(nil)
        let done = DispatchSemaphore(value: 0)
        let from = try client.rev() + 1
        Thread {
            do throws(DoozerError) {
                try client.watch("/w/**", from: from) { event in
                    events.update { $0.append(event) }
                    return event.path != "/w/stop"
                }
            } catch {
                failure.update { $0 = error }
            }
            done.signal()
        }.start()
        let writer = try DoozerConnection.dial(first.address)
        _ = try writer.set("/w/a", rev: -1, body: bytes("1"))
        _ = try writer.set("/w/b", rev: -1, body: bytes("2"))
        XCTAssertTrue(clientEventually(5) { events.get().count == 2 })
        writer.close()
        let lastBefore = try XCTUnwrap(events.get().last?.rev)

        first.stop()
        let second = try startClientServer(host: first.host, port: first.port)
        let writer2 = try DoozerConnection.dial(second.process.host + ":\(first.port)")
        defer { writer2.close() }
        _ = try writer2.set("/w/c", rev: -1, body: bytes("3"))
        _ = try writer2.del("/w/c", rev: -1)
        _ = try writer2.set("/w/stop", rev: -1, body: [])
        XCTAssertEqual(done.wait(timeout: .now() + 20), .success, "the watch did not finish")
        XCTAssertNil(failure.get())
        let seen = events.get()
        XCTAssertEqual(seen.map(\.path), ["/w/a", "/w/b", "/w/c", "/w/c", "/w/stop"])
        XCTAssertEqual(seen.map(\.flags), [4, 4, 4, 8, 4])
        XCTAssertEqual(seen.map(\.body), [bytes("1"), bytes("2"), bytes("3"), [], []])
        let after = seen.dropFirst(2).map(\.rev)
        XCTAssertEqual(after, after.sorted())
        XCTAssertLessThan(after.first ?? 0, lastBefore + 200, "new-store revs: \(after), before: \(lastBefore)")
    }
}
