// Backup and restore (issue 9): `doozer snapshot save FILE` through a member or a slave, and
// `doozerd -restore FILE`, which seeds a new single-node cluster with the file's tree at its
// revision R (the old cluster's /ctl/node and /ctl/cal replaced by the new node's own).

import DoozerWire
import Foundation
import XCTest
import DoozerTestSupport

final class BackupRestoreTests: CLITestCase {
    override class var serverConfig: DoozerdProcess.Config? { nil }

    private var files: [String] = []

    override func tearDown() {
        for file in files {
            try? FileManager.default.removeItem(atPath: file)
            try? FileManager.default.removeItem(atPath: file + ".tmp")
        }
        files = []
        super.tearDown()
    }

    /// A snapshot file path of this test (removed, with its `.tmp`, in tearDown).
    private func snapshotFile(_ name: String = "backup") -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(unique(name))-\(getpid()).dzsnap").path
        files.append(path)
        return path
    }

    /// `doozer snapshot save file` through `uri`: the rev it printed.
    private func save(_ uri: String, to file: String, _ item: String,
                      line: UInt = #line) throws -> Int64 {
        let result = try runDoozerCLI(["-a", uri, "snapshot", "save", file], timeout: 30)
        XCTAssertEqual(result.status, 0, "\(item): \(result.summary)", line: line)
        XCTAssertEqual(result.err, "", "\(item): quiet on stderr", line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: file + ".tmp"), "\(item): no temporary file left", line: line)
        return try XCTUnwrap(printedRev(result, item, line: line))
    }

    /// One WALK match as compared between two nodes: path, body and rev.
    private struct File: Equatable, CustomStringConvertible {
        let path: String
        let body: [UInt8]
        let rev: Int64
        var description: String { "\(path)@\(rev) (\(body.count) bytes)" }
    }

    /// Every file at `rev` but the cluster bookkeeping a restore replaces (`/ctl/node`,
    /// `/ctl/cal`, `/ctl/ns`, `/ctl/name`).
    private func data(_ connection: TestConnection, at rev: Int64) throws -> [File] {
        let bookkeeping = ["/ctl/node/", "/ctl/cal/", "/ctl/ns/", "/ctl/name"]
        return try connection.walkAll("/**", rev: rev)
            .map { File(path: $0.path ?? "", body: $0.value ?? [], rev: $0.rev ?? 0) }
            .filter { file in !bookkeeping.contains { file.path.hasPrefix($0) } }
    }

    func testRestoredNodeServesTheSavedTreeAtItsRevisionAndWritesAfterIt() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var generator = SplitMix64(seed: seed)
        let origin = try startServer(DoozerdProcess.Config())
        let writer = try connect(to: origin)
        for i in 0..<300 {
            let body = (0..<Int.random(in: 0..<300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try writer.mustSet("/data/d\(i % 7)/f\(i)", body)
        }
        let large = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        _ = try writer.mustSet("/data/large", large)
        _ = try writer.mustSet("/ctl/cal/1", "")  // a second slot, still empty
        _ = try writer.mustSet("/data/gone", "soon deleted")
        XCTAssertNil(try writer.del("/data/gone", rev: -1).errCode)

        let file = snapshotFile()
        let rev = try save(origin.uri, to: file, "save from a member")
        _ = try writer.mustSet("/data/d0/f0", "changed after the save")
        let original = try data(writer, at: rev)
        XCTAssertGreaterThan(original.count, 300, "seed \(seed)")
        XCTAssertFalse(original.contains { $0.path == "/data/gone" }, "the deleted file is not in the tree")
        XCTAssertEqual(original.first { $0.path == "/data/large" }?.body, large, "seed \(seed)")

        let restored = try startServer(DoozerdProcess.Config(arguments: ["-restore", file]))
        XCTAssertTrue(restored.stderrTail().contains("restoring \(file): rev \(rev), "),
                      "one start-up line names the file and the rev: \(restored.stderrTail())")
        let reader = try connect(to: restored)
        // History starts after R (as after a joiner's copy): the tree is read at the restored
        // node's current revision, where everything but the bookkeeping is as it was at R.
        let restoredRev = try reader.rev()
        XCTAssertGreaterThan(restoredRev, rev)
        XCTAssertEqual(try reader.get("/data/d0/f0", rev: rev).error, .tooLate, "R itself is before the history")
        let copy = try data(reader, at: restoredRev)
        XCTAssertEqual(copy.count, original.count, "seed \(seed)")
        for (a, b) in zip(original, copy) where a != b {
            XCTFail("the original has \(a) at rev \(rev), the restored node \(b) (seed \(seed))")
            break
        }
        let after = try reader.mustSet("/data/after", "written after the restore")
        XCTAssertGreaterThan(after, rev, "the next write gets a revision after R")
        XCTAssertEqual(try reader.get("/data/after").text, "written after the restore")
        XCTAssertEqual(try reader.get("/data/large").value, large)

        // The new node is the cluster's only member, in its own slot; the old one is gone.
        let newID = restored.nodeID
        XCTAssertEqual(try reader.listDir("/ctl/node"), [newID])
        XCTAssertEqual(try reader.listDir("/ctl/cal"), ["0", "1"], "the cluster keeps its slots")
        XCTAssertEqual(try reader.get("/ctl/cal/1").value ?? [], [], "the other slot is empty, for a node that attaches")
        XCTAssertEqual(try reader.get("/ctl/cal/0").text, newID)
        XCTAssertEqual(try reader.get("/ctl/node/\(newID)/addr").text, restored.address)
        XCTAssertEqual(try reader.listDir("/ctl/ns/local"), [newID])
        XCTAssertEqual(try reader.get("/ctl/node/\(origin.nodeID)/addr").rev, 0, "the old node's entries are gone")
        XCTAssertGreaterThan(try XCTUnwrap(try reader.get("/ctl/cal/0").rev), rev, "replaced in writes after R")

        // A node attaching to the restored one claims the emptied slot and becomes a member.
        let before = try reader.rev()
        let joiner = try startServer(DoozerdProcess.Config(arguments: ["-a", restored.address]))
        var claimedBy = ""
        var from = before + 1
        while claimedBy != joiner.nodeID {
            let event = try reader.wait("/ctl/cal/1", rev: from)
            guard event.errCode == nil, let at = event.rev else {
                XCTFail("WAIT /ctl/cal/1: \(event.brief)")
                break
            }
            claimedBy = event.text ?? ""
            from = at + 1
        }
        XCTAssertEqual(claimedBy, joiner.nodeID)
    }

    func testSaveThroughASlave() throws {
        let member = try startServer(DoozerdProcess.Config())
        _ = try connect(to: member).mustSet("/through/slave", "yes")
        var config = DoozerdProcess.Config(arguments: ["-a", member.address])
        config.skipReadiness = true
        let slave = try startServer(config)
        try awaitAnswering(slave)

        let file = snapshotFile()
        let rev = try save(slave.uri, to: file, "save through a slave")
        let restored = try startServer(DoozerdProcess.Config(arguments: ["-restore", file]))
        let reader = try connect(to: restored)
        XCTAssertGreaterThan(try reader.rev(), rev)
        XCTAssertEqual(try reader.get("/through/slave").text, "yes")
        XCTAssertEqual(try reader.listDir("/ctl/node"), [restored.nodeID], "neither the member nor the slave is kept")
    }

    func testSaveNeedsTheSecret() throws {
        let node = try startServer(DoozerdProcess.Config(environment: ["DOOZER_RWSECRET": "s3cret"]))
        let file = snapshotFile()
        let refused = try runDoozerCLI(["-a", "doozer:?ca=\(node.address)&sk=wrong", "snapshot", "save", file])
        assertCLI(refused, status: 2, stdout: "", stderr: "Error: OTHER: permission denied\n", "a wrong sk")
        XCTAssertFalse(FileManager.default.fileExists(atPath: file), "nothing written without access")
        XCTAssertFalse(FileManager.default.fileExists(atPath: file + ".tmp"))
        let rev = try save("doozer:?ca=\(node.address)&sk=s3cret", to: file, "the right sk")
        XCTAssertGreaterThan(rev, 0)
    }

    func testRestoreRefusesADamagedOrMissingFile() throws {
        let node = try startServer(DoozerdProcess.Config())
        _ = try connect(to: node).mustSet("/damaged/x", String(repeating: "payload ", count: 100))
        let good = snapshotFile("good")
        _ = try save(node.uri, to: good, "save")
        let contents = try [UInt8](Data(contentsOf: URL(fileURLWithPath: good)))

        let truncated = snapshotFile("truncated")
        XCTAssertTrue(FileManager.default.createFile(atPath: truncated, contents: Data(contents.dropLast(7))))
        let flipped = snapshotFile("flipped")
        var changed = contents
        changed[contents.count / 2] ^= 0x40
        XCTAssertTrue(FileManager.default.createFile(atPath: flipped, contents: Data(changed)))
        let missing = snapshotFile("missing")

        for (file, what) in [(truncated, "ends inside"), (flipped, "snapshot: "), (missing, "No such file")] {
            let host = Loopback.freshHost()
            let port = try Loopback.freePort(on: host)
            let run = try runDoozerd(["-l", "\(host):\(port)", "-w", "false", "-restore", file])
            XCTAssertEqual(run.status, 1, "\(file): \(run.summary)")
            XCTAssertFalse(run.timedOut, "\(file): exits by itself")
            let lines = run.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "one line: \(run.stderr)")
            XCTAssertTrue(run.stderr.contains("cannot restore (-restore): \(file): ") && run.stderr.contains(what),
                          "names the file and what is wrong: \(run.stderr)")
        }
    }

    func testRestoreCannotAttach() throws {
        let run = try runDoozerd(["-restore", "any.dzsnap", "-a", "127.0.0.1:1"])
        XCTAssertEqual(run.status, 2, run.summary)
        XCTAssertTrue(run.stderr.contains("-restore starts a new cluster: it cannot be combined with -a"), run.stderr)
        XCTAssertTrue(run.stderr.contains("Usage:"), run.stderr)
    }

    /// Polls (bounded) until `node` answers REV: a slave serves once it has copied the state.
    private func awaitAnswering(_ node: DoozerdProcess, timeout: Double = 15) throws {
        let deadline = now() + timeout
        var problem = "no attempt"
        while now() < deadline {
            XCTAssertTrue(node.isRunning, "exited: \(node.stderrTail())")
            do {
                let connection = try connect(to: node, timeout: 2)
                _ = try connection.rev()
                return
            } catch {
                problem = "\(error)"
            }
            pause(0.05)
        }
        throw HarnessError("\(node.address) did not answer within \(timeout)s: \(problem)")
    }

    func testRestoreIntoADataDirectoryKeepsTheTreeAndRevisionsAcrossRestartsAndRefusesAUsedOne() throws {
        let origin = try startServer(DoozerdProcess.Config())
        let writer = try connect(to: origin)
        for i in 0..<40 { _ = try writer.mustSet("/data/f\(i)", "v\(i)") }
        let file = snapshotFile()
        let rev = try save(origin.uri, to: file, "save")
        let original = try data(writer, at: rev)

        let directory = snapshotFile("restored-data")   // a path removed in tearDown, like the files
        var config = DoozerdProcess.Config(arguments: ["-restore", file, "-data", directory])
        let restored = try startServer(config)
        config.host = restored.host
        config.port = restored.port
        let after = try connect(to: restored).mustSet("/data/after", "x")
        XCTAssertGreaterThan(after, rev)
        restored.stop(signal: SIGKILL)

        // Restarted from the directory alone: the tree at its revisions, and the write after it.
        config.arguments = ["-data", directory]
        let restarted = try startServer(config)
        let reader = try connect(to: restarted)
        XCTAssertEqual(try data(reader, at: try reader.rev()).filter { $0.path != "/data/after" }, original)
        XCTAssertEqual(try reader.get("/data/after").rev, after)
        XCTAssertGreaterThan(try reader.mustSet("/data/later", "y"), after, "revisions continue")
        XCTAssertTrue(restarted.stderrTail().contains("resuming as"), restarted.stderrTail())
        restarted.stop(signal: SIGTERM)

        // A directory that already holds a node is not overwritten by a restore.
        let refused = try runDoozerd(["-l", "\(config.host!):\(config.port!)", "-w", "false", "-restore", file, "-data", directory])
        XCTAssertEqual(refused.status, 1, refused.summary)
        XCTAssertTrue(refused.stderr.contains("already holds node"), refused.summary)
    }
}
