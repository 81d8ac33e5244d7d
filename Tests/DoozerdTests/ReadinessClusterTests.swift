import Foundation
import XCTest

/// What an operator sees of a real cluster: `/health` and `/ready` (both ready once formed; a
/// member whose partner stops, so it has no majority, stays healthy but is not ready, with the
/// reason, and is ready again once the partner is back), the leader's log of membership
/// changes, nodes named by id and address, and nodes started in any order.
final class ReadinessClusterTests: ClusterTestCase {
    private func probe(_ node: ClusterNode, _ target: String) throws -> HTTPReply {
        try WebClient.get(host: node.host, port: 8000, target)
    }

    /// Polls `/ready` on `node` (bounded) until it answers `status`; returns that answer.
    @discardableResult
    private func awaitReady(_ node: ClusterNode, _ status: Int, within seconds: Double, _ what: String) throws -> HTTPReply {
        let deadline = now() + seconds
        var last: HTTPReply?
        while now() < deadline {
            let reply = try probe(node, "/ready")
            if reply.status == status { return reply }
            last = reply
            pause(0.05)
        }
        throw cluster.failure("\(what): /ready on \(node.name) did not answer \(status) within \(seconds)s; last: \(last.map(\.description) ?? "none")")
    }

    /// Nodes started in any order: a slave launched before its seed keeps trying `-a` until
    /// the seed listens, then attaches (and `/ready` says so).
    func testASlaveStartedBeforeItsSeedAttachesOnceTheSeedListens() throws {
        let cluster = useCluster("127.0.87")
        let early = try cluster.start("E2", host: cluster.host(2), arguments: ["-a", "\(cluster.host(1)):8046"], readiness: .running)
        // Refused (nothing listens at the seed's address yet), it says it tries again, and waits.
        let deadline = now() + 10
        while !early.process.stderrTail().contains("trying again for up to") && early.isRunning && now() < deadline { pause(0.02) }
        XCTAssertTrue(early.isRunning, "a refused -a waits for -attachwait: \(early.process.stderrTail())")
        XCTAssertTrue(early.process.stderrTail().contains("failed to attach: \(cluster.host(1)):8046"), early.process.stderrTail())
        let seed = try cluster.start("E1", host: cluster.host(1), readiness: .writable)
        try cluster.waitReady(early, .answering, timeout: 15)
        let rev = try seed.connect().rev()
        XCTAssertEqual(try cluster.read("/ctl/node/\(early.id)/addr", on: seed, rev: rev).body, early.address,
                       "the early node recorded itself through the seed")
        try awaitReady(early, 200, within: 10, "the attached slave")
        XCTAssertEqual(early.process.stderrTail().components(separatedBy: "trying again for up to").count - 1, 1,
                       "it said once that it was trying again")
    }

    /// SIGTERM while `-a` waits for its address: the node stops at once (status 0, one line),
    /// rather than at the end of `-attachwait`.
    func testSIGTERMWhileWaitingToAttachStopsAtOnce() throws {
        let cluster = useCluster("127.0.88")
        let waiting = try cluster.start("W2", host: cluster.host(2), arguments: ["-a", "\(cluster.host(1)):8046"], readiness: .running)
        let deadline = now() + 10
        while !waiting.process.stderrTail().contains("trying again for up to") && waiting.isRunning && now() < deadline { pause(0.02) }
        XCTAssertTrue(waiting.isRunning, waiting.process.stderrTail())
        let exit = cluster.terminate(waiting, timeout: 5)
        XCTAssertFalse(exit.killed, "it stopped by itself, not at the end of -attachwait: \(exit)")
        XCTAssertEqual(exit.status, 0, "\(exit)")
        XCTAssertTrue(waiting.process.stderrTail().contains("signal 15 while waiting to attach: not started"), waiting.process.stderrTail())
    }

    func testAMemberWithoutAMajorityIsHealthyButNotReady() throws {
        let cluster = useCluster("127.0.86")
        let flags = ["-pulse", "0.2", "-timeout", "60"]
        let seed = try cluster.start("R1", host: cluster.host(1), arguments: flags, readiness: .writable)
        let partner = try cluster.start("R2", host: cluster.host(2), arguments: flags + ["-a", seed.address])
        let promoted = try cluster.doozer(["set", "/ctl/cal/1", "0"], stdin: "", environment: ["DOOZER_URI": "doozer:?ca=\(seed.address)"])
        XCTAssertEqual(promoted.status, 0, promoted.summary)
        try cluster.waitReady(partner, .writable, timeout: 15)
        // The leader says how the member set changed, naming nodes as the operator does.
        let log = seed.process.stderrTail(100_000)
        XCTAssertTrue(log.contains("membership: /ctl/cal/1 is empty at rev"), log)
        XCTAssertTrue(log.contains("membership: /ctl/cal/1 holds \(partner.id) (\(partner.address)) from rev"), log)
        XCTAssertTrue(partner.process.stderrTail().contains("following leader \(seed.id) (\(seed.address))"), partner.process.stderrTail())

        for node in [seed, partner] {
            let ready = try awaitReady(node, 200, within: 10, "a formed cluster")
            XCTAssertEqual(ready.contentType, "application/json; charset=utf-8")
            XCTAssertTrue(ready.text.hasPrefix(#"{"ready":true,"role":""#), ready.text)
            XCTAssertTrue(ready.text.contains(#""in_contact":true"#), ready.text)
        }

        cluster.suspend(partner)
        let cutOff = try awaitReady(seed, 503, within: 10, "the seed without its partner")
        XCTAssertTrue(cutOff.text.contains(#""ready":false"#), cutOff.text)
        XCTAssertTrue(cutOff.text.contains(#""reason":"no contact with a majority of the cluster""#), cutOff.text)
        let health = try probe(seed, "/health")
        XCTAssertEqual(health.status, 200, "it still serves: \(health)")
        XCTAssertTrue(health.text.hasPrefix(#"{"status":"serving","rev":"#), health.text)

        cluster.resume(partner)
        try awaitReady(seed, 200, within: 10, "the seed with its partner back")
        try awaitReady(partner, 200, within: 10, "the partner after its pause")
    }
}
