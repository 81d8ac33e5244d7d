// DoozerClient's read contract against scripted fake nodes on 127.0.0.1: which answers raise the
// floor, what a read of the current state sends on a connection to a node that may lag (the
// fence: REV, then a STAT parked at the floor), when a node is left for the next one, and the
// NOP + REV of a linearizable read. Every connection of a FakeServer is one "node".

@testable import DoozerClient
import DoozerWire
import Foundation
import XCTest

/// What a scripted node does with one request.
enum Reply {
    case answer(Response)
    /// Nothing, ever (a frozen node, or a read parked on a revision it never reaches).
    case silence
    /// Closes the connection without answering.
    case hangUp
}

/// A FakeServer whose connection `i` is node `nodes[i]` (the last one for every later
/// connection): each request gets the node's reply, with the request's tag. Records what each
/// connection received.
final class ScriptedNodes: @unchecked Sendable {
    typealias Node = @Sendable (Request) -> Reply
    private var server: FakeServer!
    private let received = ClientBox<[Int: [String]]>([:])

    init(_ nodes: [Node]) throws {
        server = try FakeServer { [received] index, peer in
            let node = nodes[min(index, nodes.count - 1)]
            while let request = peer.receive() {
                received.update { $0[index, default: []].append(ScriptedNodes.describe(request)) }
                let reply = node(request)
                if case .hangUp = reply { break }
                if case .answer(var response) = reply {
                    response.tag = request.tag
                    peer.send(response)
                }
            }
            peer.close()
        }
    }

    /// The fake's address, `addresses` times (each is one more share of the reconnect window).
    func uri(addresses: Int = 1) -> String {
        "doozer:?" + Array(repeating: "ca=\(server.address)", count: addresses).joined(separator: "&")
    }

    /// The requests connection `index` received, e.g. `["rev", "stat / @100", "get /a"]`.
    func requests(_ index: Int) -> [String] { received.get()[index] ?? [] }

    var connections: Int { server.connections }

    func stop() { server.stop() }

    static func describe(_ request: Request) -> String {
        let verb = request.verb.flatMap(Verb.init(rawValue:)).map { "\($0)" } ?? "verb \(request.verb ?? 0)"
        return [verb, request.path, request.rev.map { "@\($0)" }].compactMap { $0 }.joined(separator: " ")
    }
}

/// A node that answers by verb: REV `rev`, SET `setRev`, NOP and DEL with the tag only, a GET
/// `body`@`fileRev`, a STAT as a directory, a WAIT with a set of `/w` at its rev.
func node(rev: Int64, setRev: Int64 = 0, body: String = "", fileRev: Int64 = 0,
          overriding special: @escaping @Sendable (Request) -> Reply? = { _ in nil }) -> ScriptedNodes.Node {
    { request in
        if let reply = special(request) { return reply }
        switch request.verb.flatMap(Verb.init(rawValue:)) {
        case .rev?: return .answer(Response(rev: rev))
        case .set?: return .answer(Response(rev: setRev))
        case .get?: return .answer(Response(rev: fileRev, value: Array(body.utf8)))
        case .stat?: return .answer(Response(rev: -2, len: 1))
        case .wait?: return .answer(Response(flags: 4, rev: request.rev, path: "/w", value: []))
        default: return .answer(Response())
        }
    }
}

func hangsUp(on verb: Verb) -> @Sendable (Request) -> Reply? {
    { $0.verb == verb.rawValue ? .hangUp : nil }
}

final class ReadContractTests: XCTestCase {
    // MARK: The floor

    func testEveryAnswerThatShowsAStoreRevisionRaisesTheFloor() {
        func revision(_ request: Request, _ response: Response) -> Int64? {
            DoozerClient.storeRevision(of: request, response)
        }
        XCTAssertEqual(revision(Request(verb: .set, path: "/a", rev: -1), Response(rev: 12)), 12, "SET: the new revision")
        XCTAssertEqual(revision(Request(verb: .rev), Response(rev: 40)), 40)
        XCTAssertEqual(revision(Request(verb: .wait, path: "/**", rev: 3), Response(flags: 4, rev: 9)), 9, "the event's revision")
        XCTAssertEqual(revision(Request(verb: .get, path: "/a", rev: 30), Response(rev: 12, value: [])), 30,
                       "a read at rev 30 is answered once 30 is applied")
        XCTAssertEqual(revision(Request(verb: .get, path: "/a"), Response(rev: 12, value: [])), 12,
                       "a plain GET: the file's rev, a lower bound")
        XCTAssertEqual(revision(Request(verb: .stat, path: "/"), Response(rev: -2, len: 3)), 0, "a directory shows nothing")
        XCTAssertEqual(revision(Request(verb: .getdir, path: "/", offset: 0, rev: 8), Response(path: "ctl")), 8)
        XCTAssertNil(revision(Request(verb: .del, path: "/a", rev: -1), Response()), "DEL answers no revision")
        XCTAssertNil(revision(Request(verb: .nop), Response()))
        XCTAssertNil(revision(Request(verb: .get, path: "/a", rev: 30), Response(errCode: .tooLate)), "errors show none")
    }

    func testTheFloorKnowsOnlyTheCurrentConnectionsNode() {
        var floor = ReadFloor()
        XCTAssertFalse(floor.isBehind(on: 1), "nothing seen: nothing to wait for")
        floor.saw(50, on: 1)
        XCTAssertFalse(floor.isBehind(on: 1), "connection 1's node applied 50 itself")
        XCTAssertTrue(floor.isBehind(on: 2), "a new connection's node is unknown")
        floor.saw(40, on: 2)
        XCTAssertTrue(floor.isBehind(on: 2), "40 < 50")
        floor.saw(70, on: 1)
        XCTAssertEqual(floor.floor, 70, "a late answer on an old connection still raises the floor")
        XCTAssertTrue(floor.isBehind(on: 2))
        floor.saw(70, on: 2)
        XCTAssertFalse(floor.isBehind(on: 2))
    }

    // MARK: Fencing after a failover

    /// Read-your-writes across a failover: the write at 100 went through the first node; the
    /// second is at 90, so the GET is sent only after a STAT parked at 100 was answered.
    func testAReadAfterAFailoverWaitsUntilTheNewNodeAppliedTheFloor() throws {
        let nodes = try ScriptedNodes([node(rev: 100, setRev: 100, overriding: hangsUp(on: .get)),
                                       node(rev: 90, body: "new", fileRev: 100)])
        defer { nodes.stop() }
        let client = try DoozerClient(uri: nodes.uri(), timeout: .seconds(5))
        defer { client.close() }
        XCTAssertEqual(try client.set("/a", rev: 0, body: Array("new".utf8)), 100)
        XCTAssertEqual(try client.get("/a").body, Array("new".utf8))
        XCTAssertEqual(nodes.requests(0), ["set /a @0", "get /a"], "the first connection is not fenced")
        XCTAssertEqual(nodes.requests(1), ["rev", "stat / @100", "get /a"])
    }

    func testAPlainRevOnALaggingNodeWaitsForTheFloor() throws {
        let revs = ClientBox<[Int64]>([90, 101])
        let lagging: ScriptedNodes.Node = node(rev: 0) { request in
            guard request.verb == Verb.rev.rawValue else { return nil }
            var next: Int64 = 0
            revs.update { next = $0.removeFirst() }
            return .answer(Response(rev: next))
        }
        let nodes = try ScriptedNodes([node(rev: 100, setRev: 100, overriding: hangsUp(on: .rev)), lagging])
        defer { nodes.stop() }
        let client = try DoozerClient(uri: nodes.uri(), timeout: .seconds(5))
        defer { client.close() }
        XCTAssertEqual(try client.set("/a", rev: -1, body: []), 100)
        XCTAssertEqual(try client.rev(), 101, "not 90: the node's REV once it applied 100")
        XCTAssertEqual(nodes.requests(1), ["rev", "stat / @100", "rev"])
    }

    /// The parked STAT is answered TOO_LATE when a snapshot install took the node past the
    /// floor: the fence asks REV again and then reads the current state.
    func testTooLateWhileParkedMeansTheNodeMovedPast() throws {
        let revs = ClientBox<[Int64]>([90, 150])
        let jumping: ScriptedNodes.Node = node(rev: 0, body: "x", fileRev: 120) { request in
            switch request.verb.flatMap(Verb.init(rawValue:)) {
            case .rev?:
                var next: Int64 = 0
                revs.update { next = $0.removeFirst() }
                return .answer(Response(rev: next))
            case .stat?: return .answer(Response(errCode: .tooLate))
            default: return nil
            }
        }
        let nodes = try ScriptedNodes([node(rev: 100, setRev: 100, overriding: hangsUp(on: .get)), jumping])
        defer { nodes.stop() }
        let client = try DoozerClient(uri: nodes.uri(), timeout: .seconds(5))
        defer { client.close() }
        _ = try client.set("/a", rev: -1, body: [])
        XCTAssertEqual(try client.get("/a").rev, 120)
        XCTAssertEqual(nodes.requests(1), ["rev", "stat / @100", "rev", "get /a"])
    }

    /// A frozen node (it never answers, as under SIGSTOP) gets its share of the reconnect
    /// window (half: two addresses); then the client drops it and reads from the next node,
    /// which caught up.
    func testANodeThatDoesNotCatchUpIsLeftForTheNextOne() throws {
        let nodes = try ScriptedNodes([node(rev: 100, setRev: 100, overriding: hangsUp(on: .get)),
                                       { _ in .silence },
                                       node(rev: 120, body: "new", fileRev: 100)])
        defer { nodes.stop() }
        let client = try DoozerClient(uri: nodes.uri(addresses: 2), timeout: .seconds(2))
        defer { client.close() }
        _ = try client.set("/a", rev: -1, body: [])
        XCTAssertEqual(try client.get("/a").body, Array("new".utf8))
        XCTAssertEqual(nodes.requests(1), ["rev"], "the frozen node is asked nothing else")
        XCTAssertEqual(nodes.requests(2), ["rev", "get /a"])
    }

    /// No node catches up within the reconnect window: the read fails rather than answering
    /// from an older state, and no lagging node is ever sent the GET.
    func testWhenNoNodeCatchesUpTheReadFailsBehind() throws {
        let nodes = try ScriptedNodes([node(rev: 100, setRev: 100, overriding: hangsUp(on: .get)),
                                       node(rev: 90, body: "old", fileRev: 80) { request in
                                           request.verb == Verb.stat.rawValue ? .silence : nil
                                       }])
        defer { nodes.stop() }
        let client = try DoozerClient(uri: nodes.uri(addresses: 2), timeout: .milliseconds(600))
        defer { client.close() }
        _ = try client.set("/a", rev: -1, body: [])
        XCTAssertThrowsError(try client.get("/a")) { XCTAssertEqual($0 as? DoozerError, .behind(rev: 100)) }
        XCTAssertGreaterThanOrEqual(nodes.connections, 2)
        for index in 1..<nodes.connections {
            XCTAssertFalse(nodes.requests(index).contains("get /a"), "connection \(index): \(nodes.requests(index))")
        }
        XCTAssertEqual(DoozerError.behind(rev: 100).description, "no node has caught up with rev 100, the newest this client has seen")
    }

    /// A DEL answers no revision: REV follows it on the same connection, so a read after a
    /// failover includes the delete.
    func testADeleteIsCoveredByTheRevThatFollowsIt() throws {
        let nodes = try ScriptedNodes([node(rev: 60, overriding: hangsUp(on: .get)), node(rev: 50)])
        defer { nodes.stop() }
        let client = try DoozerClient(uri: nodes.uri(), timeout: .seconds(5))
        defer { client.close() }
        try client.del("/a", rev: -1)
        XCTAssertEqual(try client.get("/a").rev, 0)
        XCTAssertEqual(nodes.requests(0), ["del /a @-1", "rev", "get /a"])
        XCTAssertEqual(nodes.requests(1), ["rev", "stat / @60", "get /a"])
    }

    /// A watch's events raise the floor like any answer.
    func testWatchedEventsRaiseTheFloor() throws {
        let nodes = try ScriptedNodes([node(rev: 70, overriding: hangsUp(on: .get)), node(rev: 60)])
        defer { nodes.stop() }
        let client = try DoozerClient(uri: nodes.uri(), timeout: .seconds(5))
        defer { client.close() }
        try client.watch("/w", from: 70) { _ in false }
        _ = try client.get("/a")
        XCTAssertEqual(nodes.requests(1), ["rev", "stat / @70", "get /a"])
    }

    // MARK: Linearizable reads

    func testALinearizableGetIsANopThenRevThenAPlainRead() throws {
        let nodes = try ScriptedNodes([node(rev: 77, body: "v", fileRev: 70)])
        defer { nodes.stop() }
        let client = try DoozerClient(uri: nodes.uri(), timeout: .seconds(5))
        defer { client.close() }
        let (body, rev) = try client.get("/a", consistency: .linearizable)
        XCTAssertEqual(body, Array("v".utf8))
        XCTAssertEqual(rev, 70)
        XCTAssertEqual(nodes.requests(0), ["nop", "rev", "get /a"])
        XCTAssertEqual(try client.get("/a", consistency: .monotonic).body, Array("v".utf8))
        XCTAssertEqual(nodes.requests(0), ["nop", "rev", "get /a", "get /a"], "monotonic: no extra request")
    }

    /// The REV must come from the node that applied the NOP: when the connection breaks before
    /// or after the NOP's answer, the NOP is sent again (never `connectionLost`), then REV.
    func testLinearizableRevSendsTheNopAgainWhenTheConnectionBreaks() throws {
        for brokenOn in [Verb.nop, Verb.rev] {
            let nodes = try ScriptedNodes([node(rev: 77, overriding: hangsUp(on: brokenOn)), node(rev: 80)])
            defer { nodes.stop() }
            let client = try DoozerClient(uri: nodes.uri(), timeout: .seconds(5))
            defer { client.close() }
            XCTAssertEqual(try client.linearizableRev(), 80, "\(brokenOn)")
            XCTAssertEqual(nodes.requests(1), ["nop", "rev"], "\(brokenOn)")
        }
    }

    func testLinearizableRevReportsTheNopsError() throws {
        let nodes = try ScriptedNodes([node(rev: 77) { request in
            request.verb == Verb.nop.rawValue ? .answer(Response(errCode: .readonly)) : nil
        }])
        defer { nodes.stop() }
        let client = try DoozerClient(uri: nodes.uri(), timeout: .seconds(5))
        defer { client.close() }
        XCTAssertThrowsError(try client.linearizableRev()) {
            XCTAssertEqual($0 as? DoozerError, .server(code: .readonly, detail: nil), "a slave cannot take the NOP")
        }
        XCTAssertEqual(nodes.requests(0), ["nop"])
    }
}
