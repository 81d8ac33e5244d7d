// DoozerConnection.copySnapshot (the loop `doozer snapshot save` and a joining node share)
// against a scripted fake peer: the units it asks for, a restart at a newer revision after
// TOO_LATE, and giving up after its attempts.

@testable import DoozerClient
import DoozerWire
import Foundation
import XCTest

/// What a copy handed to its consumer, in order.
final class CopyRecord: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String] = []

    func add(_ entry: String) {
        lock.lock()
        entries.append(entry)
        lock.unlock()
    }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return entries
    }
}

final class SnapshotCopyTests: XCTestCase {
    /// Runs a copy on a background thread, recording `begin` and `unit` calls.
    private func startCopy(_ connection: DoozerConnection, attempts: Int, _ record: CopyRecord) -> Background<Int64> {
        Background { () throws(DoozerError) in
            do {
                return try connection.copySnapshot(attempts: attempts, begin: { rev, bootstrap in
                    record.add("begin \(rev) \(String(decoding: bootstrap, as: UTF8.self))")
                }, unit: { bytes in
                    record.add("unit \(bytes)")
                })
            } catch let error as DoozerError {
                throw error
            } catch {
                throw .malformedResponse("unexpected \(error)")
            }
        }
    }

    /// Expects a SNAPSHOT request for `unit` at `rev` and answers it with `response` (its tag set).
    private func answer(_ peer: FakePeer, unit: Int32, rev: Int64, with response: Response,
                        line: UInt = #line) throws {
        let request = try XCTUnwrap(peer.receive(), line: line)
        XCTAssertEqual(request.verb, Verb.snapshot.rawValue, line: line)
        XCTAssertEqual(request.offset, unit, "unit", line: line)
        XCTAssertEqual(request.rev, rev, "rev", line: line)
        var tagged = response
        tagged.tag = request.tag
        peer.send(tagged)
    }

    func testCopyRestartsAtANewerRevisionAfterTooLate() throws {
        let (connection, peer) = fakeConnection()
        defer { connection.close(); peer.close() }
        let record = CopyRecord()
        let copy = startCopy(connection, attempts: 3, record)
        try answer(peer, unit: 0, rev: 0, with: Response(flags: 0, rev: 10, value: Array("B1".utf8)))
        try answer(peer, unit: 1, rev: 10, with: Response(flags: 0, rev: 10, value: [1]))
        try answer(peer, unit: 2, rev: 10, with: Response(errCode: .tooLate))
        try answer(peer, unit: 0, rev: 0, with: Response(flags: 0, rev: 20, value: Array("B2".utf8)))
        try answer(peer, unit: 1, rev: 20, with: Response(flags: 0, rev: 20, value: [2]))
        try answer(peer, unit: 2, rev: 20, with: Response(flags: 1, rev: 20, value: [3]))
        XCTAssertEqual(try copy.join()?.get(), 20)
        XCTAssertEqual(record.all, ["begin 10 B1", "unit [1]", "begin 20 B2", "unit [2]", "unit [3]"])
        XCTAssertNil(connection.failure)
    }

    func testCopyGivesUpWithTooLateAfterItsAttempts() throws {
        let (connection, peer) = fakeConnection()
        defer { connection.close(); peer.close() }
        let record = CopyRecord()
        let copy = startCopy(connection, attempts: 2, record)
        for rev: Int64 in [5, 6] {
            try answer(peer, unit: 0, rev: 0, with: Response(flags: 0, rev: rev, value: []))
            try answer(peer, unit: 1, rev: rev, with: Response(errCode: .tooLate))
        }
        XCTAssertEqual(copy.join()?.failureValue, .server(code: .tooLate, detail: nil))
        XCTAssertEqual(record.all, ["begin 5 ", "begin 6 "])
    }

    func testOtherErrorsEndTheCopyAtOnce() throws {
        let (connection, peer) = fakeConnection()
        defer { connection.close(); peer.close() }
        let copy = startCopy(connection, attempts: 3, CopyRecord())
        try answer(peer, unit: 0, rev: 0, with: Response(errCode: .other, errDetail: "permission denied"))
        XCTAssertEqual(copy.join()?.failureValue, .server(code: .other, detail: "permission denied"))
    }
}
