// A durable single node (`-data`, issue 9): every acknowledged write survives SIGKILL, with its
// revision, across snapshots and log compaction; a data directory serves one process at a time;
// a damaged snapshot falls back to the older one or refuses to start, as the README says.

import DoozerWire
import Foundation
import XCTest
import DoozerTestSupport

final class DurabilityTests: DoozerdTestCase {
    override class var serverConfig: DoozerdProcess.Config? { nil }

    private var directories: [String] = []

    override func tearDown() {
        super.tearDown()   // stops the processes first
        for directory in directories { try? FileManager.default.removeItem(atPath: directory) }
        directories = []
    }

    private func dataDirectory() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(unique("data"))-\(getpid())").path
        directories.append(path)
        return path
    }

    /// Writes one file after another on its own thread and remembers each acknowledged one.
    private final class Writer: @unchecked Sendable {
        private let lock = NSLock()
        private var acked: [(index: Int, rev: Int64)] = []
        let reached = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)

        var acknowledged: [(index: Int, rev: Int64)] { lock.withLock { acked } }

        func start(_ connection: TestConnection, under directory: String, signalAt count: Int) {
            Thread {
                defer { self.finished.signal() }
                for i in 0..<1_000_000 {
                    guard let response = try? connection.set("\(directory)/f\(i)", "v\(i)", rev: -1),
                          response.errCode == nil, let rev = response.rev else { return }
                    let n = self.lock.withLock { self.acked.append((i, rev)); return self.acked.count }
                    if n == count { self.reached.signal() }
                }
            }.start()
        }
    }

    /// Starts a node with `config` (which then keeps its address for the next start), writes
    /// files under `directory` until `count` are acknowledged, kills it with SIGKILL and
    /// returns the acknowledged writes.
    private func writeUntilKilled(_ config: inout DoozerdProcess.Config, under directory: String, count: Int,
                                  _ what: String) throws -> [(index: Int, rev: Int64)] {
        let node = try startServer(config)
        config.host = node.host
        config.port = node.port
        let writer = Writer()
        writer.start(try connect(to: node), under: directory, signalAt: count)
        XCTAssertEqual(writer.reached.wait(timeout: .now() + 60), .success, what)
        node.stop(signal: SIGKILL)
        XCTAssertEqual(writer.finished.wait(timeout: .now() + 10), .success, what)
        return writer.acknowledged
    }

    func testAcknowledgedWritesSurviveSIGKILLAndRevisionsContinue() throws {
        let seed = UInt64.random(in: 1...UInt64.max)
        var random = SplitMix64(seed: seed)
        var config = DoozerdProcess.Config(arguments: ["-data", dataDirectory()])
        for round in 0..<3 {
            let acked = try writeUntilKilled(&config, under: "/d\(round)", count: 20 + random.below(200),
                                             "round \(round), seed \(seed)")

            let restarted = try startServer(config)
            let reader = try connect(to: restarted)
            for (i, rev) in acked {
                let response = try reader.get("/d\(round)/f\(i)")
                XCTAssertEqual(response.value, bytes("v\(i)"), "f\(i) round \(round), seed \(seed)")
                XCTAssertEqual(response.rev, rev, "f\(i)'s rev, round \(round), seed \(seed)")
            }
            // Only the one write in flight at the kill may be there unacknowledged.
            let files = try reader.walkAll("/d\(round)/*")
            XCTAssertLessThanOrEqual(files.count, acked.count + 1, "round \(round), seed \(seed)")
            XCTAssertEqual(Set(files.compactMap(\.rev)).count, files.count, "one revision per write, seed \(seed)")
            let next = try reader.mustSet("/after/\(round)", "x")
            XCTAssertGreaterThan(next, acked.last?.rev ?? 0, "revisions continue, seed \(seed)")
            XCTAssertTrue(restarted.stderrTail().contains("resuming as"), restarted.stderrTail())
            restarted.stop(signal: SIGKILL)
        }
    }

    /// The log's own threads never take SIGTERM: it reaches the loop, which syncs what is
    /// decided and exits cleanly.
    func testSIGTERMShutsADurableNodeDownCleanly() throws {
        let config = DoozerdProcess.Config(arguments: ["-data", dataDirectory()])
        let node = try startServer(config)
        let rev = try connect(to: node).mustSet("/t", "x")
        let exit = node.stop(signal: SIGTERM)
        XCTAssertEqual(exit.reason, .exit, "\(exit); \(node.stderrTail())")
        XCTAssertEqual(exit.status, 0, "\(exit); \(node.stderrTail())")
        XCTAssertTrue(node.stderrTail().contains("shut down at rev"), node.stderrTail())
        XCTAssertTrue(node.stderrTail().contains("log traffic: batches="), node.stderrTail())

        let restarted = try startServer(config)
        XCTAssertEqual(try connect(to: restarted).get("/t").rev, rev)
    }

    func testAMemoryOnlyNodeSaysSoOnce() throws {
        let node = try startServer(DoozerdProcess.Config())
        _ = try connect(to: node).rev()
        let lines = node.stderrTail(20_000).split(separator: "\n").filter { $0.contains("nothing survives a restart") }
        XCTAssertEqual(lines.count, 1, node.stderrTail())
    }

    func testASecondProcessOnTheSameDataDirectoryIsRefused() throws {
        let directory = dataDirectory()
        let first = try startServer(DoozerdProcess.Config(arguments: ["-data", directory]))
        var config = DoozerdProcess.Config(arguments: ["-data", directory])
        config.skipReadiness = true
        let second = try DoozerdProcess(config)   // not `startServer`: its exit is expected
        defer { second.removeLogs() }
        second.process.waitUntilExit()
        XCTAssertEqual(second.process.terminationStatus, 1, second.stderrTail())
        XCTAssertTrue(second.stderrTail().contains("is in use by process \(first.pid)"), second.stderrTail())
        XCTAssertEqual(try connect(to: first).rev() > 0, true, "the first keeps serving")
    }

    func testATornLogTailIsClearedWithOneLine() throws {
        let directory = dataDirectory()
        var config = DoozerdProcess.Config(arguments: ["-data", directory])
        let node = try startServer(config)
        config.host = node.host
        config.port = node.port
        let connection = try connect(to: node)
        var lastRev: Int64 = 0
        for i in 0..<20 { lastRev = try connection.mustSet("/t/f\(i)", "v\(i)") }
        node.stop(signal: SIGKILL)
        // A record cut in half at the end of the newest segment: a torn write.
        let log = directory + "/log"
        let segment = log + "/" + (try FileManager.default.contentsOfDirectory(atPath: log).filter { $0.hasSuffix(".log") }.sorted().last!)
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: segment))
        let data = try handle.readToEnd() ?? Data()
        let end = try XCTUnwrap(data.lastIndex { $0 != 0 }) + 1
        try handle.seek(toOffset: UInt64(end))
        handle.write(Data([0x40, 0, 0, 0, 2, 0x11, 0x22]))   // a length and type with no body
        try handle.close()

        let restarted = try startServer(config)
        let reader = try connect(to: restarted)
        XCTAssertEqual(try reader.get("/t/f19").value, bytes("v19"))
        XCTAssertGreaterThan(try reader.mustSet("/t/after", "x"), lastRev)
        let lines = restarted.stderrTail(20_000).split(separator: "\n").filter { $0.contains("torn") }
        XCTAssertEqual(lines.count, 1, restarted.stderrTail())
    }

    /// Directory entries of `directory` inside the data directory, sorted.
    private func entries(_ dataDirectory: String, _ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dataDirectory + "/" + directory).sorted()
    }

    private func damageSnapshot(_ path: String) throws {
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: path))
        try handle.seek(toOffset: 40)
        handle.write(Data([0xDE, 0xAD, 0xBE, 0xEF]))
        try handle.close()
    }

    func testWritesAcrossSnapshotsSurviveSIGKILLRoundsAndTheLogIsCompacted() throws {
        let seed = UInt64.random(in: 1...UInt64.max)
        var random = SplitMix64(seed: seed)
        let directory = dataDirectory()
        var config = DoozerdProcess.Config(arguments: ["-data", directory, "-snapshotevery", "20"])
        var everyAcked: [(path: String, value: String, rev: Int64)] = []
        for round in 0..<4 {
            let acked = try writeUntilKilled(&config, under: "/s\(round)", count: 60 + random.below(120),
                                             "round \(round), seed \(seed)")
            everyAcked += acked.map { ("/s\(round)/f\($0.index)", "v\($0.index)", $0.rev) }

            let restarted = try startServer(config)
            let reader = try connect(to: restarted)
            for file in everyAcked {
                let response = try reader.get(file.path)
                XCTAssertEqual(response.value, bytes(file.value), "\(file.path) after round \(round), seed \(seed)")
                XCTAssertEqual(response.rev, file.rev, "\(file.path)'s rev after round \(round), seed \(seed)")
            }
            XCTAssertTrue(restarted.stderrTail(20_000).contains("data directory \(directory): snapshot "),
                          "recovery starts from a snapshot: \(restarted.stderrTail())")
            restarted.stop(signal: SIGKILL)
        }
        // Compacted: the first segment (identity and layout) is gone, and what is left is
        // bounded by the snapshot schedule, not by the number of writes.
        // (The segment the preparer may have made ready ahead, `next-segment.prepared`, holds
        // no records: whether one exists when the node is killed is a matter of timing.)
        let segments = try entries(directory, "log").filter { $0.hasSuffix(".log") }
        XCTAssertFalse(segments.contains("00000000000000000001.log"), "\(segments)")
        XCTAssertLessThanOrEqual(segments.count, 5, "\(segments) after \(everyAcked.count) writes")
        let snapshots = try entries(directory, "snapshots")
        XCTAssertLessThanOrEqual(snapshots.count, 4, "two kept, at most one unrecorded and its .tmp: \(snapshots)")
    }

    func testADamagedNewestSnapshotFallsBackToTheOlderOneAndBothDamagedRefusesToStart() throws {
        let directory = dataDirectory()
        var config = DoozerdProcess.Config(arguments: ["-data", directory, "-snapshotevery", "10"])
        let node = try startServer(config)
        config.host = node.host
        config.port = node.port
        let connection = try connect(to: node)
        var revs: [Int64] = []
        for i in 0..<80 { revs.append(try connection.mustSet("/c/f\(i)", "v\(i)")) }
        node.stop(signal: SIGTERM)   // a clean stop syncs the newest snapshot's record
        // The newest snapshot with a record, as its log line names it.
        let written = node.stderrTail(50_000).split(separator: "\n").last { $0.contains("written: ") }
        let newest = try XCTUnwrap(written?.split(separator: "written: ").last?.split(separator: ",").first.map(String.init),
                                   node.stderrTail())
        try damageSnapshot(newest)

        let restarted = try startServer(config)
        let reader = try connect(to: restarted)
        for i in 0..<80 {
            let response = try reader.get("/c/f\(i)")
            XCTAssertEqual(response.value, bytes("v\(i)"), "f\(i)")
            XCTAssertEqual(response.rev, revs[i], "f\(i)'s rev")
        }
        let log = restarted.stderrTail(20_000)
        XCTAssertTrue(log.contains("snapshot unusable: \(newest)"), log)
        XCTAssertTrue(log.contains("recovering from the older snapshot"), log)
        restarted.stop(signal: SIGKILL)

        // Both kept snapshots damaged, and the log before the older one compacted away: the node
        // refuses to start, naming each file.
        for name in try entries(directory, "snapshots").filter({ $0.hasSuffix(".dzsnap") }) {
            try damageSnapshot(directory + "/snapshots/" + name)
        }
        var refused = config
        refused.skipReadiness = true
        let failed = try DoozerdProcess(refused)
        defer { failed.removeLogs() }
        failed.process.waitUntilExit()
        XCTAssertEqual(failed.process.terminationStatus, 1, failed.stderrTail())
        XCTAssertTrue(failed.stderrTail().contains("cannot recover the store"), failed.stderrTail())
    }
}
