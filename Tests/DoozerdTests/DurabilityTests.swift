// A durable single node (`-data`, issue 9): every acknowledged write survives SIGKILL, with its
// revision; a data directory serves one process at a time.

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

    func testAcknowledgedWritesSurviveSIGKILLAndRevisionsContinue() throws {
        let seed = UInt64.random(in: 1...UInt64.max)
        var random = SplitMix64(seed: seed)
        var config = DoozerdProcess.Config(arguments: ["-data", dataDirectory()])
        for round in 0..<3 {
            let node = try startServer(config)
            config.host = node.host
            config.port = node.port
            let writer = Writer()
            writer.start(try connect(to: node), under: "/d\(round)", signalAt: 20 + random.below(200))
            XCTAssertEqual(writer.reached.wait(timeout: .now() + 30), .success, "round \(round), seed \(seed)")
            node.stop(signal: SIGKILL)
            XCTAssertEqual(writer.finished.wait(timeout: .now() + 10), .success, "round \(round), seed \(seed)")
            let acked = writer.acknowledged

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
}
