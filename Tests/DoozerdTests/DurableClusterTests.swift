// A durable cluster (`-data` on every node, issue 9): every member and the slave killed with
// SIGKILL under write load, then restarted with the same flags, re-forms, elects, and holds
// every acknowledged write at its revision, none applied twice; the restarted nodes keep their
// ids and slots and take writes again.

import DoozerTestSupport
import Foundation
import XCTest

extension ClusterScenarioTests {
    /// Writes one new file after another through one node, on its own thread, and remembers
    /// each acknowledged one (path and revision).
    private final class LoadWriter: @unchecked Sendable {
        private let lock = NSLock()
        private var acked: [(path: String, rev: Int64)] = []
        let finished = DispatchSemaphore(value: 0)

        var acknowledged: [(path: String, rev: Int64)] { lock.withLock { acked } }

        func start(_ connection: TestConnection, prefix: String) {
            Thread {
                defer { self.finished.signal() }
                for i in 0..<1_000_000 {
                    let path = "\(prefix)/f\(i)"
                    guard let response = try? connection.set(path, "v\(i)", rev: -1), response.errCode == nil,
                          let rev = response.rev else { return }
                    self.lock.withLock { self.acked.append((path, rev)) }
                }
            }.start()
        }
    }

    func testADurableClusterKilledWholeUnderLoadComesBackWithEveryAcknowledgedWrite() throws {
        useCluster("127.0.80")
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("durable-cluster-\(getpid())-\(UInt64.random(in: 1...UInt64.max))").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        func data(_ n: Int) -> [String] { ["-data", "\(base)/node\(n)"] }
        let flags = Self.fastFlags + ["-snapshotevery", "200"]

        // Scenario 1's formation, every node with its own data directory.
        let seed = try cluster.start("D1", host: cluster.host(1), arguments: flags + data(1), readiness: .writable)
        var slaves: [ClusterNode] = []
        for n in 2...4 {
            slaves.append(try cluster.start("D\(n)", host: cluster.host(n), arguments: flags + data(n) + ["-a", seed.address],
                                            readiness: .answering))
        }
        let activated = try activateTwoSlots(seed: seed, candidates: slaves, environment: ["DOOZER_URI": seed.uri])
        let members = [seed] + activated.members
        let arguments = Dictionary(uniqueKeysWithValues: ([seed] + slaves).enumerated().map { i, node in
            (node.label, flags + data(i + 1) + (i == 0 ? [] : ["-a", seed.address]))
        })

        // Load through every member; kill every node once each member has acknowledged some.
        let writers = try members.map { member in
            let writer = LoadWriter()
            writer.start(try member.connect(), prefix: "/load/\(member.label)")
            return writer
        }
        var random = SplitMix64(seed: UInt64.random(in: 1...UInt64.max))
        let target = 30 + random.below(150)
        let deadline = now() + 30
        while writers.contains(where: { $0.acknowledged.count < target }) && now() < deadline {
            usleep(2_000)
        }
        XCTAssertFalse(writers.contains { $0.acknowledged.count < target }, "every member took \(target) writes\n\(cluster.report())")
        let ids = Dictionary(uniqueKeysWithValues: ([seed] + slaves).map { ($0.label, $0.id) })
        for node in [seed] + slaves { _ = cluster.kill(node) }
        for writer in writers { XCTAssertEqual(writer.finished.wait(timeout: .now() + 10), .success) }
        let acknowledged = writers.flatMap(\.acknowledged)
        let lastRev = acknowledged.map(\.rev).max() ?? 0

        // The same commands again: no -a needed, though given; the nodes re-form by themselves.
        let restarted = try ([seed] + slaves).map { node in
            try cluster.start(node.label, host: node.host, arguments: arguments[node.label]!, readiness: .running)
        }
        for node in restarted { try cluster.waitReady(node, .answering, timeout: 20) }
        for node in restarted {
            XCTAssertEqual(node.id, ids[node.label], "\(node.name) kept its id")
        }
        let byLabel = Dictionary(uniqueKeysWithValues: restarted.map { ($0.label, $0) })
        let restartedMembers = members.map { byLabel[$0.label]! }
        for member in restartedMembers {
            try write("/after/\(member.label)", "again", through: member, within: 15)
        }
        for node in restarted {
            for (path, rev) in acknowledged {
                let current = try cluster.read(path, on: node, rev: nil)
                XCTAssertEqual(current.rev, rev, "\(path) on \(node.name): acknowledged at rev \(rev), applied once")
            }
            XCTAssertGreaterThanOrEqual(try node.connect().rev(), lastRev, "\(node.name) continued its revisions")
            XCTAssertEqual(try cluster.calendar(on: node).values.sorted(),
                           restartedMembers.map(\.id).sorted(), "the same members hold the slots on \(node.name)")
        }
    }

    /// A durable node that was down while the members moved past what they keep of the log
    /// catches up from a copy of a member's state, written as its own snapshot first; killed
    /// again, it comes back from that snapshot and the log after it.
    func testADurableNodeFarBehindKeepsTheStateItCopied() throws {
        useCluster("127.0.81")
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("durable-behind-\(getpid())-\(UInt64.random(in: 1...UInt64.max))").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let flags = ["-pulse", "0.2", "-timeout", "60"]
        let seed = try cluster.start("B1", host: cluster.host(1), arguments: flags + ["-data", base + "/seed"], readiness: .writable)
        let slaveArguments = flags + ["-data", base + "/slave", "-a", seed.address]
        let slave = try cluster.start("B2", host: cluster.host(2), arguments: slaveArguments, readiness: .answering)
        _ = try write("/behind/before", "x", through: seed)
        _ = cluster.kill(slave)
        let connection = try seed.dial(timeout: 10)
        defer { connection.close() }
        for i in 0..<6000 { _ = try connection.set("/behind/\(i % 100)", rev: -1, body: Array("v\(i)".utf8)) }

        let back = try cluster.start("B2", host: slave.host, arguments: slaveArguments, readiness: .answering)
        XCTAssertEqual(back.id, slave.id)
        let rev = try write("/behind/after", "following", through: seed)
        // A read at `rev` parks until the node applies it — or answers TOO_LATE when the copy
        // the node installs is of a later revision (it skips `rev`): then the current one.
        let caughtUp = try (try? cluster.read("/behind/after", on: back, rev: rev, timeout: 15))
            ?? cluster.read("/behind/after", on: back, timeout: 15)
        XCTAssertEqual(caughtUp.body, "following", "caught up\n\(cluster.report())")
        let log = try String(contentsOf: back.process.stderrURL, encoding: .utf8)
        XCTAssertTrue(log.contains("caught up from a snapshot"), "through a snapshot:\n\(log)")

        _ = cluster.kill(back)
        let again = try cluster.start("B2", host: slave.host, arguments: slaveArguments, readiness: .answering)
        XCTAssertEqual(try cluster.read("/behind/99", on: again).body, "v5999", "the copied state survived\n\(cluster.report())")
        // A slave applies what is durable at the members' quorum before its own log has it, so
        // the last write may be missing after the SIGKILL until the node fetches it again (and
        // its revision may lie inside the copy, out of history): both reads are at a revision
        // written after the restart, and park until the node applied it.
        let later = try write("/behind/later", "following", through: seed)
        XCTAssertEqual(try cluster.read("/behind/after", on: again, rev: later, timeout: 10).body, "following")
        XCTAssertEqual(try cluster.read("/behind/later", on: again, rev: later, timeout: 10).body, "following",
                       "and follows the log again")
    }
}
